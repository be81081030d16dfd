//! Build-time switches for the test suite: tests that need a service report themselves
//! as ignored, in the runner's own count, where the service is not configured.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo:rerun-if-env-changed=TEST_POSTGRES_URL");
    if std::env::var_os("TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=postgres_tests");
    }
}
