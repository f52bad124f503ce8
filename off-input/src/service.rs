//! The states a service is checked for, spelled the same in a recipe's
//! `service(state = "...")` attribute, a check spec and `off.yaml`.

/// The expected state of a service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum ServiceState {
    #[default]
    Running,
    Stopped,
    /// Starts at boot (systemd `is-enabled`, else an `S` link in /etc/rc[2-5].d).
    Enabled,
    Disabled,
}

impl ServiceState {
    pub const ALL: [ServiceState; 4] = [
        ServiceState::Running,
        ServiceState::Stopped,
        ServiceState::Enabled,
        ServiceState::Disabled,
    ];

    /// The spelling used in attributes and check specs.
    pub fn name(self) -> &'static str {
        match self {
            ServiceState::Running => "running",
            ServiceState::Stopped => "stopped",
            ServiceState::Enabled => "enabled",
            ServiceState::Disabled => "disabled",
        }
    }

    /// The state the service action `verb` (`start`, `stop`, `restart`,
    /// `reload`, `enable`, `disable`) leaves a service in: what the macro
    /// infers from a recipe's `service` calls and `--check` expects after a
    /// dry run's.
    pub fn after_action(verb: &str) -> Option<ServiceState> {
        match verb {
            "start" | "restart" | "reload" => Some(ServiceState::Running),
            "stop" => Some(ServiceState::Stopped),
            "enable" => Some(ServiceState::Enabled),
            "disable" => Some(ServiceState::Disabled),
            _ => None,
        }
    }

    /// The state spelled `name`.
    pub fn from_name(name: &str) -> Option<ServiceState> {
        Self::ALL.into_iter().find(|state| state.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_name() {
        for state in ServiceState::ALL {
            assert_eq!(ServiceState::from_name(state.name()), Some(state));
        }
        assert_eq!(ServiceState::from_name("runing"), None);
        assert_eq!(ServiceState::from_name("Running"), None);
        assert_eq!(ServiceState::default(), ServiceState::Running);
    }

    #[test]
    fn actions_leave_a_service_in_a_state() {
        let after = ServiceState::after_action;
        assert_eq!(after("reload"), Some(ServiceState::Running));
        assert_eq!(after("stop"), Some(ServiceState::Stopped));
        assert_eq!(after("disable"), Some(ServiceState::Disabled));
        assert_eq!(after("Start"), None);
    }
}
