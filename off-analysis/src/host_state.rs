//! The state a recipe leaves a host in, as far as its source tells: which
//! files end up written or removed, which state each service it touches ends
//! in, which packages it installs. `cargo off gen-config` turns this into the
//! check spec of `off.yaml`.
//!
//! Files and packages come from [`Effects`](crate::Effects) (see `count.rs`, which resolves
//! which calls are operations). On top of that this module reads two things
//! [`Effects`](crate::Effects) does not keep:
//!
//! - the action of each `service(name, action)` call, for the expected state:
//!   `Start`, `Restart` and `Reload` mean `running`, `Stop` means `stopped`,
//!   `Enable`/`Disable` mean `enabled`/`disabled`. When a service gets several
//!   actions, the last start/stop-like one (in source order) wins, else the
//!   last enable/disable; an action that is not written as a variant name
//!   (`Restart`, `ServiceAction::Restart`) counts as `running`.
//! - files removed by a command: an `rm` in the literal text of a `run`,
//!   `sudo` or `sudo_as` command (a string literal, `format!` or `sh!` with
//!   named placeholders), e.g. `run(sh!("rm -f {root}/www/index.html"))`.
//!   Only plain absolute paths or paths starting with a placeholder count;
//!   globs, quotes and variables of the shell are skipped.
//!
//! - the content of a `put` whose source is a string or byte-string literal:
//!   when that is the only way the recipe writes the file, its content is
//!   known ([`FileState::content`]).
//!
//! All of these come from the operation calls that counting recorded
//! ([`Recipe::op_calls`]): a call whose name is shadowed (a local `fn run`, a
//! closure named `service`) is no operation here either.

use syn::Expr;
use syn::ext::IdentExt;

use crate::ast::Recipe;
use crate::attr::ServiceState;
use crate::count::{file_effect, format_template, string_template};
use crate::model::{OpCall, OpKind, push_unique};

/// Files, services and packages with the state the recipe leaves them in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostState {
    /// In order of first appearance: written files first (as in
    /// [`crate::Effects::files`]), then files only removed.
    pub files: Vec<FileState>,
    pub services: Vec<ServiceEffect>,
    pub packages: Vec<String>,
}

/// One file (or directory, for `rm -r`) the recipe changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    /// A literal or a `{param}` template (see [`crate::FileEffect`]).
    pub path_template: String,
    /// The operations writing it (`put`, `upload_template`, `append`), each once.
    pub written_by: Vec<OpKind>,
    /// An `rm` of the path appears in a command, or a command says it
    /// removes it (`.removes(path)`).
    pub removed: bool,
    /// A command says it creates it (`.creates(path)`).
    pub created: bool,
    /// Made by `mkdir`.
    pub directory: bool,
    /// The lines `append` adds to it (string templates).
    pub lines: Vec<String>,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// The file's bytes when every write is a `put` of the same literal and
    /// nothing removes it.
    pub content: Option<Vec<u8>>,
}

impl FileState {
    /// Under `/etc/systemd/` or `/etc/init.d/`: the file registers a service.
    pub fn is_init_file(&self) -> bool {
        ["/etc/systemd/", "/etc/init.d/"]
            .iter()
            .any(|dir| self.path_template.starts_with(dir))
    }

    /// Whether the file exists after a run: `Some(true)` when only written,
    /// `Some(false)` when only removed, `None` when the recipe writes it on
    /// one path through the code and removes it on another.
    pub fn exists(&self) -> Option<bool> {
        let made = !self.written_by.is_empty() || self.created;
        match (made, self.removed) {
            (true, false) => Some(true),
            (false, _) => Some(false),
            (true, true) => None,
        }
    }
}

/// A service and the state the recipe leaves it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEffect {
    /// A literal or a `{param}` template.
    pub name: String,
    pub state: ServiceState,
}

impl HostState {
    /// Derives the state from the recipe's effects and its `service` and
    /// command calls.
    pub fn of(recipe: &Recipe) -> HostState {
        let calls = CallFacts::of(&recipe.op_calls);

        let mut files: Vec<FileState> = Vec::new();
        for effect in &recipe.effects.files {
            match files
                .iter_mut()
                .find(|f| f.path_template == effect.path_template)
            {
                Some(file) => {
                    if !file.written_by.contains(&effect.op) {
                        file.written_by.push(effect.op);
                    }
                    file.mode = file.mode.or(effect.mode);
                    file.owner = file.owner.take().or_else(|| effect.owner.clone());
                    file.group = file.group.take().or_else(|| effect.group.clone());
                    file.directory |= effect.op == OpKind::Mkdir;
                    if let Some(line) = &effect.line {
                        push_unique(&mut file.lines, line.clone());
                    }
                }
                None => files.push(FileState {
                    path_template: effect.path_template.clone(),
                    written_by: vec![effect.op],
                    removed: false,
                    created: false,
                    directory: effect.op == OpKind::Mkdir,
                    lines: effect.line.iter().cloned().collect(),
                    mode: effect.mode,
                    owner: effect.owner.clone(),
                    group: effect.group.clone(),
                    content: None,
                }),
            }
        }
        let unknown = |path_template: String| FileState {
            path_template,
            written_by: Vec::new(),
            removed: false,
            created: false,
            directory: false,
            lines: Vec::new(),
            mode: None,
            owner: None,
            group: None,
            content: None,
        };
        for created in calls.created {
            if !files.iter().any(|f| f.path_template == created) {
                files.push(FileState {
                    created: true,
                    ..unknown(created)
                });
            }
        }
        for removed in calls.removed {
            match files.iter_mut().find(|f| f.path_template == removed) {
                Some(file) => file.removed = true,
                None => files.push(FileState {
                    removed: true,
                    ..unknown(removed)
                }),
            }
        }
        for file in &mut files {
            file.content = known_content(file, &calls.puts);
        }

        let services = recipe
            .effects
            .services
            .iter()
            .map(|name| ServiceEffect {
                name: name.clone(),
                state: final_state(
                    calls
                        .service_actions
                        .iter()
                        .filter(|(n, _)| n == name)
                        .map(|(_, action)| *action),
                ),
            })
            .collect();

        HostState {
            files,
            services,
            packages: recipe.effects.packages.clone(),
        }
    }
}

/// The content of `file` when it is written only by `put`s of one literal.
fn known_content(file: &FileState, puts: &[(String, Option<Vec<u8>>)]) -> Option<Vec<u8>> {
    if file.removed || file.written_by != [OpKind::Put] {
        return None;
    }
    let mut contents = puts
        .iter()
        .filter(|(path, _)| *path == file.path_template)
        .map(|(_, content)| content.as_ref());
    let first = contents.next()??;
    contents
        .all(|content| content == Some(first))
        .then(|| first.clone())
}

/// The state a sequence of actions (in source order) leaves a service in.
fn final_state(actions: impl Iterator<Item = Option<ServiceState>>) -> ServiceState {
    let mut running = None;
    let mut enabled = None;
    for action in actions {
        match action.unwrap_or(ServiceState::Running) {
            state @ (ServiceState::Running | ServiceState::Stopped) => running = Some(state),
            state @ (ServiceState::Enabled | ServiceState::Disabled) => enabled = Some(state),
        }
    }
    running.or(enabled).unwrap_or(ServiceState::Running)
}

/// The state a `ServiceAction` variant leads to, by the variant's name.
fn action_state(action: &Expr) -> Option<ServiceState> {
    let Expr::Path(path) = action else {
        return None;
    };
    let variant = path.path.segments.last()?.ident.unraw().to_string();
    // `ServiceAction::Start` is the action `start`.
    let mut verb = variant.chars();
    let first = verb.next()?;
    if !first.is_ascii_uppercase() {
        return None;
    }
    ServiceState::after_action(&format!("{}{}", first.to_ascii_lowercase(), verb.as_str()))
}

/// What the `service`, `put` and command calls say, in source order.
#[derive(Default)]
struct CallFacts {
    /// `(service name template, state of the action)`.
    service_actions: Vec<(String, Option<ServiceState>)>,
    removed: Vec<String>,
    /// Paths of `.creates(path)` on a command.
    created: Vec<String>,
    /// `(destination template, literal content)` of each `put`.
    puts: Vec<(String, Option<Vec<u8>>)>,
}

impl CallFacts {
    fn of(op_calls: &[OpCall]) -> CallFacts {
        let mut facts = CallFacts::default();
        for call in op_calls {
            let Some(args) = &call.args else {
                continue;
            };
            let arg = |i: usize| args.get(i);
            match call.kind {
                OpKind::Service => {
                    if let Some((name, _)) = arg(0).and_then(string_template) {
                        let state = arg(1).and_then(action_state);
                        facts.service_actions.push((name, state));
                    }
                }
                OpKind::Put => {
                    if let Some(effect) = arg(1).and_then(|dest| file_effect(call.kind, dest)) {
                        let content = arg(0).and_then(literal_bytes);
                        facts.puts.push((effect.path_template, content));
                    }
                }
                OpKind::Run | OpKind::Sudo | OpKind::SudoAs => {
                    let command = if call.kind == OpKind::SudoAs {
                        arg(1)
                    } else {
                        arg(0)
                    };
                    let Some(command) = command else { continue };
                    let said = CommandFacts::of(command);
                    for path in said.created {
                        push_unique(&mut facts.created, path);
                    }
                    for path in said.removed {
                        push_unique(&mut facts.removed, path);
                    }
                    if let Some(command) = command_template(said.command) {
                        for path in removed_paths(&command) {
                            push_unique(&mut facts.removed, path);
                        }
                    }
                }
                _ => {}
            }
        }
        facts
    }
}

/// What a command argument says beside its text:
/// `sh!("…").creates(path).query()`.
struct CommandFacts<'a> {
    /// The command line itself, inside the method calls.
    command: &'a Expr,
    created: Vec<String>,
    removed: Vec<String>,
}

impl<'a> CommandFacts<'a> {
    fn of(mut expr: &'a Expr) -> CommandFacts<'a> {
        let mut created = Vec::new();
        let mut removed = Vec::new();
        while let Expr::MethodCall(call) = expr {
            let path = || call.args.first().and_then(string_or_variable);
            match call.method.to_string().as_str() {
                "creates" => created.extend(path()),
                "removes" => removed.extend(path()),
                "query" | "changed_if" | "unchanged_if" => {}
                _ => break,
            }
            expr = &call.receiver;
        }
        CommandFacts {
            command: expr,
            created,
            removed,
        }
    }
}

/// A string template, or a variable `index` (or `&index`) standing for the
/// template `{index}`.
fn string_or_variable(expr: &Expr) -> Option<String> {
    if let Some((text, _)) = string_template(expr) {
        return Some(text);
    }
    match expr {
        Expr::Reference(inner) => string_or_variable(&inner.expr),
        Expr::Paren(inner) => string_or_variable(&inner.expr),
        Expr::Path(path) if path.qself.is_none() => {
            let name = path.path.get_ident()?.unraw().to_string();
            Some(format!("{{{name}}}"))
        }
        _ => None,
    }
}

/// The bytes of `"text"`, `b"bytes"` (or a reference to one).
fn literal_bytes(expr: &Expr) -> Option<Vec<u8>> {
    match expr {
        Expr::Lit(syn::ExprLit { lit, .. }) => match lit {
            syn::Lit::Str(text) => Some(text.value().into_bytes()),
            syn::Lit::ByteStr(bytes) => Some(bytes.value()),
            _ => None,
        },
        Expr::Reference(inner) => literal_bytes(&inner.expr),
        Expr::Paren(inner) => literal_bytes(&inner.expr),
        _ => None,
    }
}

/// The text of a command: a string template, or `sh!` with named placeholders.
fn command_template(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Macro(mac) if mac.mac.path.is_ident("sh") => {
            format_template(&mac.mac).map(|(text, _)| text)
        }
        Expr::Reference(inner) => command_template(&inner.expr),
        Expr::Paren(inner) => command_template(&inner.expr),
        other => string_template(other).map(|(text, _)| text),
    }
}

/// The paths an `rm` in `command` removes (see the module docs).
fn removed_paths(command: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for simple in command.split(['\n', ';', '&', '|']) {
        let mut words = simple.split_whitespace();
        if words.next() != Some("rm") {
            continue;
        }
        for word in words.filter(|w| !w.starts_with('-')) {
            let plain = !word.contains(['*', '?', '[', '$', '`', '"', '\'', '\\', '~']);
            if plain && (word.starts_with('/') || word.starts_with('{')) {
                push_unique(&mut paths, word.to_owned());
            }
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_recipe;
    use quote::quote;

    fn state_of(body: proc_macro2::TokenStream) -> HostState {
        let recipe = parse_recipe(quote!(), body).unwrap();
        HostState::of(&recipe)
    }

    #[test]
    fn service_states_follow_the_last_action() {
        let state = state_of(quote! {
            mod r {
                #[step]
                fn a(version: u32) -> Result<()> {
                    service("pg", Enable)?;
                    service("pg", Restart)?;
                    service("cron", ServiceAction::Stop)?;
                    service("cron", Disable)?;
                    service(format!("pg@{version}"), off_runtime::ServiceAction::Disable)?;
                    service("odd", action)?;
                    Ok(())
                }
                #[step]
                fn b() -> Result<()> {
                    service("pg", Stop)?;
                    Ok(())
                }
            }
        });
        let services: Vec<(&str, ServiceState)> = state
            .services
            .iter()
            .map(|s| (s.name.as_str(), s.state))
            .collect();
        assert_eq!(
            services,
            [
                ("pg", ServiceState::Stopped),
                ("cron", ServiceState::Stopped),
                ("pg@{version}", ServiceState::Disabled),
                ("odd", ServiceState::Running),
            ]
        );
    }

    #[test]
    fn a_shadowed_service_is_not_a_service() {
        let state = state_of(quote! {
            fn r() -> Result<()> {
                let service = |_: &str, _: u8| ();
                service("no", Stop);
                Ok(())
            }
        });
        assert!(state.services.is_empty());
    }

    #[test]
    fn files_written_and_removed() {
        let state = state_of(quote! {
            fn r(root: String, flag: bool) -> Result<()> {
                put(b"x", remote_path("/etc/systemd/system/x.service").mode(0o644).owner("root"))?;
                upload_template("t.j2", format!("{root}/a"), ctx)?;
                append(format!("{root}/a"), "line")?;
                if flag {
                    put(b"x", format!("{root}/b"))?;
                } else {
                    run(sh!("rm -f {root}/b"))?;
                }
                sudo("rm -rf /var/cache/x /tmp/*.tmp && echo done; rm $HOME/y")?;
                sudo_as("pg", format!("rm {root}/c"))?;
                local("rm /never/remote")?;
                Ok(())
            }
        });
        let files: Vec<(&str, &[OpKind], bool, Option<bool>)> = state
            .files
            .iter()
            .map(|f| {
                (
                    f.path_template.as_str(),
                    f.written_by.as_slice(),
                    f.removed,
                    f.exists(),
                )
            })
            .collect();
        assert_eq!(
            files,
            [
                (
                    "/etc/systemd/system/x.service",
                    &[OpKind::Put][..],
                    false,
                    Some(true)
                ),
                (
                    "{root}/a",
                    &[OpKind::UploadTemplate, OpKind::Append][..],
                    false,
                    Some(true)
                ),
                ("{root}/b", &[OpKind::Put][..], true, None),
                ("/var/cache/x", &[][..], true, Some(false)),
                ("{root}/c", &[][..], true, Some(false)),
            ]
        );
        assert!(state.files[0].is_init_file());
        assert_eq!(state.files[0].mode, Some(0o644));
        assert_eq!(state.files[0].owner.as_deref(), Some("root"));
        assert!(!state.files[1].is_init_file());
        assert_eq!(state.files[0].content.as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn directories_lines_and_what_commands_say() {
        let state = state_of(quote! {
            fn r(root: String, version: u32) -> Result<()> {
                mkdir(remote_path(&root).mode(0o750).owner("www"))?;
                append(format!("{root}/stages"), "configured")?;
                append(format!("{root}/stages"), "done")?;
                sudo(sh!("pg_createcluster {version} main")
                    .creates(format!("/etc/postgresql/{version}/main/postgresql.conf")))?;
                run(sh!("cleanup").removes(format!("{root}/old")).query())?;
                Ok(())
            }
        });
        let files: Vec<(&str, bool, &[String], Option<bool>)> = state
            .files
            .iter()
            .map(|f| {
                (
                    f.path_template.as_str(),
                    f.directory,
                    f.lines.as_slice(),
                    f.exists(),
                )
            })
            .collect();
        let lines = ["configured".to_string(), "done".to_string()];
        assert_eq!(
            files,
            [
                ("{root}", true, &[][..], Some(true)),
                ("{root}/stages", false, &lines[..], Some(true)),
                (
                    "/etc/postgresql/{version}/main/postgresql.conf",
                    false,
                    &[][..],
                    Some(true)
                ),
                ("{root}/old", false, &[][..], Some(false)),
            ]
        );
        assert_eq!(state.files[0].mode, Some(0o750));
    }

    #[test]
    fn literal_put_content_is_known() {
        let state = state_of(quote! {
            fn r(body: String, flag: bool) -> Result<()> {
                put(b"one\n", "/etc/one")?;
                put("two", remote_path("/etc/two").mode(0o600))?;
                put(b"same", "/etc/same")?;
                put(&b"same"[..], "/etc/same")?;
                put(b"a", "/etc/differs")?;
                put(b"b", "/etc/differs")?;
                put(body, "/etc/variable")?;
                put(b"x", "/etc/appended")?;
                append("/etc/appended", "y")?;
                put(b"x", "/etc/removed")?;
                if flag { run("rm /etc/removed")?; }
                Ok(())
            }
        });
        let contents: Vec<(&str, Option<&[u8]>)> = state
            .files
            .iter()
            .map(|f| (f.path_template.as_str(), f.content.as_deref()))
            .collect();
        assert_eq!(
            contents,
            [
                ("/etc/one", Some(&b"one\n"[..])),
                ("/etc/two", Some(&b"two"[..])),
                // `&b"same"[..]` is not a literal the analysis reads.
                ("/etc/same", None),
                ("/etc/differs", None),
                ("/etc/variable", None),
                ("/etc/appended", None),
                ("/etc/removed", None),
            ]
        );
    }

    #[test]
    fn rm_words() {
        assert_eq!(
            removed_paths("rm -f /a {x}/b relative 'quoted' /g*"),
            ["/a", "{x}/b"]
        );
        assert!(removed_paths("echo rm /a").is_empty());
        assert_eq!(removed_paths("true || rm /a | cat"), ["/a"]);
    }
}
