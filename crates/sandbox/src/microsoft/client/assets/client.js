// The sandbox Teams client's live updates: follow the page's Server-Sent Events and swap in
// the re-rendered live part on each change, keeping what the person was typing; tick the
// call clock; announce an incoming call through the polite live region. Without this script
// the page still works: every action is a plain form.
'use strict';

(function () {
  const view = document.getElementById('view');
  const announce = document.getElementById('announce');
  if (!view) {
    return;
  }

  // Values typed into inputs (by id), so a swap does not wipe a half-written message.
  function typed() {
    const kept = {};
    view.querySelectorAll('input[id]').forEach(function (input) {
      if (input.type !== 'radio' && input.value) {
        kept[input.id] = input.value;
      }
    });
    return kept;
  }

  let busy = false;
  let again = false;

  async function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      const response = await fetch(view.dataset.viewUrl, { cache: 'no-store' });
      if (response.ok) {
        const focused = document.activeElement && document.activeElement.id;
        const kept = typed();
        view.innerHTML = await response.text();
        Object.keys(kept).forEach(function (id) {
          const input = document.getElementById(id);
          if (input) {
            input.value = kept[id];
          }
        });
        if (focused) {
          const element = document.getElementById(focused);
          if (element) {
            element.focus();
          }
        }
        const live = view.querySelector('[data-announce]');
        const text = live ? live.dataset.announce : '';
        if (announce && announce.textContent !== text) {
          announce.textContent = text;
        }
      }
    } catch (error) {
      // The next change event tries again.
    } finally {
      busy = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  function pad(n) {
    return n < 10 ? '0' + n : String(n);
  }

  function tick() {
    view.querySelectorAll('[data-duration]').forEach(function (element) {
      const secs = Number(element.dataset.duration) + 1;
      element.dataset.duration = String(secs);
      const h = Math.floor(secs / 3600);
      const m = Math.floor(secs / 60) % 60;
      const s = secs % 60;
      element.textContent = h > 0 ? h + ':' + pad(m) + ':' + pad(s) : m + ':' + pad(s);
    });
  }

  setInterval(tick, 1000);
  if (window.EventSource) {
    const events = new EventSource(view.dataset.eventsUrl);
    events.addEventListener('change', refresh);
  }
})();
