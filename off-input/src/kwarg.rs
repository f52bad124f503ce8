//! How a recipe's kwarg takes its values, as the macro reads it off the
//! parameter's type and the recipe binary's command line applies it.

/// How a kwarg takes its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `T`: one value; required unless it has a default.
    Plain,
    /// `Option<T>`: one value or none.
    Option,
    /// `bool`: a flag, `false` when absent.
    Bool,
    /// `Vec<T>`: a repeatable flag, empty when absent.
    Vec,
}
