//! The action of the `service` operation, in a module of its own: the
//! operation takes it and the dry run records it, and the dry run must not
//! import the operations (they import the context, which holds the dry run).

/// What [`service`](crate::ops::service) does; `Start`, `Stop`, `Enable` and
/// `Disable` do nothing (and report unchanged) when the service already is in
/// that state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    Start,
    Stop,
    Restart,
    Reload,
    Enable,
    Disable,
}

impl ServiceAction {
    pub(crate) fn verb(self) -> &'static str {
        match self {
            ServiceAction::Start => "start",
            ServiceAction::Stop => "stop",
            ServiceAction::Restart => "restart",
            ServiceAction::Reload => "reload",
            ServiceAction::Enable => "enable",
            ServiceAction::Disable => "disable",
        }
    }
}
