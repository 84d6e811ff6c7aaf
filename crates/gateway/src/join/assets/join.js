// The join page's script: joins the call WHIP-style (one SDP offer, one answer, no trickle),
// follows the call's state over server-sent events, and offers mute and hang-up.
// Plain first-party JavaScript so that it runs under the page's strict CSP without a build step.
'use strict';

(() => {
  const $ = id => document.getElementById(id);
  const joinButton = $('join');
  const muteButton = $('mute');
  const hangupButton = $('hangup');
  const stateText = $('state');
  const errorText = $('error');
  const help = $('mic-help');
  const remote = $('remote');

  const LABELS = {
    ringing: 'Ringing…',
    connected: 'Connected',
    on_hold: 'On hold',
    ended: 'Call ended',
    asking: 'Waiting for microphone permission…',
    joining: 'Connecting…',
  };
  // How long to wait for ICE candidates before offering what has been gathered.
  const GATHER_TIMEOUT_MS = 2000;

  let pc = null;
  let local = null;
  let session = null;
  let events = null;
  let over = false;

  function show(state) {
    document.body.dataset.state = state;
    stateText.textContent = LABELS[state] || state;
  }

  function fail(message) {
    errorText.textContent = message;
    errorText.hidden = false;
  }

  function clearError() {
    errorText.textContent = '';
    errorText.hidden = true;
  }

  // Releases the microphone, the connection and the event stream.
  function release() {
    if (events) { events.close(); events = null; }
    if (pc) { pc.close(); pc = null; }
    if (local) { local.getTracks().forEach(track => track.stop()); local = null; }
    remote.srcObject = null;
  }

  // The call is over for this page, whoever ended it.
  function finish() {
    if (over) return;
    over = true;
    release();
    session = null;
    joinButton.disabled = true;
    muteButton.disabled = true;
    hangupButton.disabled = true;
    help.hidden = true;
    show('ended');
  }

  function waitForIce(connection) {
    return new Promise(resolve => {
      if (connection.iceGatheringState === 'complete') return resolve();
      const done = () => {
        if (connection.iceGatheringState === 'complete') resolve();
      };
      connection.addEventListener('icegatheringstatechange', done);
      setTimeout(resolve, GATHER_TIMEOUT_MS);
    });
  }

  function follow(address) {
    events = new EventSource(address + '/events');
    events.onmessage = message => {
      let view;
      try { view = JSON.parse(message.data); } catch (_) { return; }
      if (view.title) $('title').textContent = view.title;
      if (view.state === 'ended') finish();
      else show(view.state);
    };
  }

  async function join() {
    clearError();
    joinButton.disabled = true;
    show('asking');
    try {
      local = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    } catch (error) {
      show('ringing');
      joinButton.disabled = false;
      fail('The microphone is not available. Allow this page to use your microphone, then select Join again.');
      return;
    }
    show('joining');
    try {
      pc = new RTCPeerConnection();
      const track = local.getAudioTracks()[0];
      pc.addTransceiver(track, { direction: 'sendrecv', streams: [local] });
      pc.ontrack = event => {
        remote.srcObject = event.streams[0] || new MediaStream([event.track]);
        remote.play().catch(() => {});
      };
      pc.onconnectionstatechange = () => {
        if (pc && pc.connectionState === 'failed') {
          fail('The audio connection failed.');
          hangUp();
        }
      };
      await pc.setLocalDescription(await pc.createOffer());
      await waitForIce(pc);
      const whip = location.pathname.replace(/\/+$/, '') + '/whip';
      const response = await fetch(whip, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: pc.localDescription.sdp,
        cache: 'no-store',
        credentials: 'same-origin',
      });
      const text = await response.text();
      if (response.status !== 201) {
        release();
        const retry = response.status === 503 || response.status === 400;
        if (retry) {
          show('ringing');
          joinButton.disabled = false;
        } else {
          over = true;
          show('ended');
        }
        fail(text || 'The call could not be joined.');
        return;
      }
      session = response.headers.get('Location');
      await pc.setRemoteDescription({ type: 'answer', sdp: text });
      muteButton.disabled = false;
      hangupButton.disabled = false;
      help.hidden = true;
      if (session) follow(session);
    } catch (error) {
      release();
      show('ringing');
      joinButton.disabled = false;
      fail('The call could not be joined. Check your connection and select Join again.');
    }
  }

  function toggleMute() {
    if (!local) return;
    const muted = muteButton.getAttribute('aria-pressed') !== 'true';
    local.getAudioTracks().forEach(track => { track.enabled = !muted; });
    muteButton.setAttribute('aria-pressed', String(muted));
  }

  function hangUp() {
    const address = session;
    finish();
    if (address) {
      fetch(address, { method: 'DELETE', keepalive: true, credentials: 'same-origin' }).catch(() => {});
    }
  }

  joinButton.addEventListener('click', join);
  muteButton.addEventListener('click', toggleMute);
  hangupButton.addEventListener('click', hangUp);
  // Closing the tab hangs up too.
  window.addEventListener('pagehide', () => { if (session) hangUp(); });
})();
