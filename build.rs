//! Sets `cfg(browser_tests)` when the browser test can run here: Chromium at
//! `/usr/bin/chromium` and playwright-core installed in `tests/browser` (`.ci/run`
//! installs both). Without them that test shows as ignored.

use std::path::Path;

const CHROMIUM: &str = "/usr/bin/chromium";
const PLAYWRIGHT: &str = "tests/browser/node_modules/playwright-core";

fn main() {
    println!("cargo:rustc-check-cfg=cfg(browser_tests)");
    println!("cargo:rerun-if-changed=build.rs");
    for path in [CHROMIUM, PLAYWRIGHT] {
        println!(
            "cargo:rerun-if-changed={}",
            watched(Path::new(path)).display()
        );
    }
    if Path::new(CHROMIUM).is_file() && Path::new(PLAYWRIGHT).is_dir() {
        println!("cargo:rustc-cfg=browser_tests");
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
