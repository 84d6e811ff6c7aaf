//! What each emulated Web API method needs: token type, scope and rate tier
//! (slack-api.md §5–§8, §12, §13).

/// Which token types a method takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tokens {
    /// Bot or user tokens.
    Any,
    /// User tokens only; a bot token gets `not_allowed_token_type`.
    UserOnly,
}

/// A method's rate budget per minute (§13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tier {
    T1,
    T2,
    T3,
    T4,
    /// A method-specific per-minute budget per workspace (auth.test: "hundreds per minute").
    Special(u32),
    /// chat.postMessage: about one message per second per channel.
    PerChannel(u32),
}

impl Tier {
    /// Nominal requests per minute, as the SDKs use them (§13).
    pub(crate) fn per_minute(self) -> u32 {
        match self {
            Self::T1 => 1,
            Self::T2 => 20,
            Self::T3 => 50,
            Self::T4 => 100,
            Self::Special(n) | Self::PerChannel(n) => n,
        }
    }
}

/// One method's requirements.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MethodSpec {
    pub(crate) name: &'static str,
    pub(crate) tokens: Tokens,
    /// The scope needed; `None` for methods any valid token may call.
    pub(crate) scope: Option<&'static str>,
    pub(crate) tier: Tier,
}

const fn spec(
    name: &'static str,
    tokens: Tokens,
    scope: Option<&'static str>,
    tier: Tier,
) -> MethodSpec {
    MethodSpec {
        name,
        tokens,
        scope,
        tier,
    }
}

/// Every method that needs a token. `oauth.v2.access` is handled before token checks.
pub(crate) const METHODS: &[MethodSpec] = &[
    spec("auth.test", Tokens::Any, None, Tier::Special(600)),
    spec("auth.revoke", Tokens::Any, None, Tier::T3),
    spec("apps.uninstall", Tokens::Any, None, Tier::T1),
    spec("users.info", Tokens::Any, Some("users:read"), Tier::T4),
    spec("users.list", Tokens::Any, Some("users:read"), Tier::T2),
    spec(
        "users.lookupByEmail",
        Tokens::Any,
        Some("users:read.email"),
        Tier::T3,
    ),
    spec(
        "users.profile.get",
        Tokens::Any,
        Some("users.profile:read"),
        Tier::T4,
    ),
    spec(
        "users.profile.set",
        Tokens::UserOnly,
        Some("users.profile:write"),
        Tier::T3,
    ),
    spec(
        "users.getPresence",
        Tokens::Any,
        Some("users:read"),
        Tier::T3,
    ),
    spec(
        "users.setPresence",
        Tokens::UserOnly,
        Some("users:write"),
        Tier::T2,
    ),
    spec("dnd.info", Tokens::Any, Some("dnd:read"), Tier::T3),
    spec(
        "dnd.setSnooze",
        Tokens::UserOnly,
        Some("dnd:write"),
        Tier::T2,
    ),
    spec(
        "dnd.endSnooze",
        Tokens::UserOnly,
        Some("dnd:write"),
        Tier::T2,
    ),
    spec(
        "chat.postMessage",
        Tokens::Any,
        Some("chat:write"),
        Tier::PerChannel(60),
    ),
    spec(
        "chat.postEphemeral",
        Tokens::Any,
        Some("chat:write"),
        Tier::T4,
    ),
    spec("chat.update", Tokens::Any, Some("chat:write"), Tier::T3),
    // The scope depends on `types` (channels:read, groups:read, mpim:read, im:read): checked
    // by the method itself.
    spec("conversations.list", Tokens::Any, None, Tier::T2),
    spec(
        "conversations.open",
        Tokens::Any,
        Some("im:write"),
        Tier::T3,
    ),
    // docs.slack.dev says Tier 3 for calls.*, the Java SDK Tier 2; the emulator allows Tier 3 (§6.3).
    spec("calls.add", Tokens::Any, Some("calls:write"), Tier::T3),
    spec("calls.info", Tokens::Any, Some("calls:read"), Tier::T3),
    spec("calls.update", Tokens::Any, Some("calls:write"), Tier::T3),
    spec("calls.end", Tokens::Any, Some("calls:write"), Tier::T3),
    spec(
        "calls.participants.add",
        Tokens::Any,
        Some("calls:write"),
        Tier::T3,
    ),
    spec(
        "calls.participants.remove",
        Tokens::Any,
        Some("calls:write"),
        Tier::T3,
    ),
    // No scope: any token of the app that received the trigger id (§11).
    spec("views.open", Tokens::Any, None, Tier::T4),
];

/// The requirements of `method`, if the sandbox emulates it.
pub(crate) fn lookup(method: &str) -> Option<&'static MethodSpec> {
    METHODS.iter().find(|spec| spec.name == method)
}
