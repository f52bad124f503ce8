//! UI tests of the `#[recipe]` and `sh!` macros: programs that must compile, and
//! mistakes that must give one precise error each (`.stderr` beside each case).

#[test]
fn ui() {
    // Template paths in the cases are relative to this crate (see the
    // `#[recipe]` entry point in off-macros).
    // SAFETY: set before trybuild starts any thread or child process.
    unsafe { std::env::set_var("OFF_UI_TESTS_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR")) };
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/params/*.rs");
    t.compile_fail("tests/ui/attrs/*.rs");
    t.compile_fail("tests/ui/steps/*.rs");
    t.compile_fail("tests/ui/templates/*.rs");
    t.compile_fail("tests/ui/sh/*.rs");
}
