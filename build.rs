//! Build-time switches for the test suite: tests that need something this machine may
//! lack report themselves as ignored, in the runner's own count, where it is missing.
//!
//! - `cfg(browser_tests)`: Chromium at `/usr/bin/chromium` and playwright-core installed
//!   in `tests/browser` (`.ci/run` installs both).
//! - `cfg(postgres_tests)`: `TEST_POSTGRES_URL` names a PostgreSQL database (`.ci/run`
//!   sets it).

use std::path::Path;

const CHROMIUM: &str = "/usr/bin/chromium";
const PLAYWRIGHT: &str = "tests/browser/node_modules/playwright-core";

fn main() {
    println!("cargo:rustc-check-cfg=cfg(browser_tests)");
    println!("cargo:rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=TEST_POSTGRES_URL");
    for path in [CHROMIUM, PLAYWRIGHT] {
        println!(
            "cargo:rerun-if-changed={}",
            watched(Path::new(path)).display()
        );
    }
    if Path::new(CHROMIUM).is_file() && Path::new(PLAYWRIGHT).is_dir() {
        println!("cargo:rustc-cfg=browser_tests");
    }
    if std::env::var_os("TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=postgres_tests");
    }
}

/// The path itself when it exists, else its closest existing parent folder, whose
/// modification time changes when the path appears. (Cargo takes a missing path as
/// changed and would rebuild the crate on every build.)
fn watched(path: &Path) -> &Path {
    path.ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .unwrap_or(Path::new("."))
}
