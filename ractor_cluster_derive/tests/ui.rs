//! One compile-fail case per diagnostic; each `.stderr` is what the user sees.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
