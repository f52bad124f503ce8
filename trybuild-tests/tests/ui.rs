//! UI tests of the `#[recipe]` macro: programs that must compile, and
//! mistakes that must give one precise error each (`.stderr` beside each case).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/params/*.rs");
    t.compile_fail("tests/ui/attrs/*.rs");
    t.compile_fail("tests/ui/steps/*.rs");
    t.compile_fail("tests/ui/templates/*.rs");
}
