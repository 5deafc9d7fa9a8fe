//! A real browser for the web tests: Debian's headless Chromium driven over WebDriver
//! (chromedriver + thirtyfour), with screenshots saved as test artifacts.
//!
//! # Guarantees
//! - A missing `chromium` or `chromedriver` fails the test with a message that says
//!   `./scripts/test` installs them; nothing is skipped.
//! - Screenshots land in `target/screenshots/<test>/<step>.png`.
//! - The chromedriver process and the browsers it started are killed when the [`Browser`] is
//!   dropped, also when the test panics: chromedriver runs in its own process group, and the
//!   whole group is killed.
//!
//! # Assumptions
//! - Runs as root in a container, so Chromium needs `--no-sandbox`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use thirtyfour::prelude::*;

/// The browser window of every test, in CSS pixels.
pub const WINDOW: (u32, u32) = (1280, 900);

/// One headless Chromium session and the chromedriver that drives it.
pub struct Browser {
    /// Always `Some` until dropped; see [`Browser::driver`].
    driver: Option<WebDriver>,
    /// Artifacts of this test: `target/screenshots/<test>/`.
    pub artifacts: PathBuf,
    chromedriver: Child,
}

/// `$CHROMEDRIVER`, or `chromedriver` on the PATH, or Debian's path.
fn chromedriver_path() -> PathBuf {
    find_binary("CHROMEDRIVER", &["chromedriver"], "/usr/bin/chromedriver")
}

/// `$CHROMIUM`, or `chromium` on the PATH, or Debian's path.
fn chromium_path() -> PathBuf {
    find_binary(
        "CHROMIUM",
        &["chromium", "chromium-browser"],
        "/usr/bin/chromium",
    )
}

fn find_binary(variable: &str, names: &[&str], fallback: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "${variable} is set to {} but no such file exists; unset it or run ./scripts/test, \
             which installs Debian's chromium and chromium-driver",
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file());
    on_path
        .or_else(|| Some(PathBuf::from(fallback)).filter(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "{} is not installed: the browser tests need headless Chromium and its WebDriver. \
                 Run ./scripts/test, which installs Debian's chromium and chromium-driver \
                 (or apt-get install chromium chromium-driver, or set ${variable})",
                names[0]
            )
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding a loopback port to find a free one")
        .port()
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium window of [`WINDOW`].
    /// `test` names the artifacts folder.
    pub async fn start(test: &str) -> Browser {
        let driver_path = chromedriver_path();
        let chromium = chromium_path();
        let artifacts = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/screenshots")
            .join(test);
        std::fs::create_dir_all(&artifacts).expect("creating the screenshots folder");
        let log = std::fs::File::create(artifacts.join("chromedriver.log"))
            .expect("creating the chromedriver log");
        let port = free_port();
        let chromedriver = {
            use std::os::unix::process::CommandExt;
            Command::new(&driver_path)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("cloning the log handle"))
                .stderr(log)
                // Its own process group, so Drop can kill it together with the browsers.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display()))
        };
        // Owned from here: a failure below still kills chromedriver through Drop of `guard`.
        let mut guard = DriverGuard(Some(chromedriver));
        let url = format!("http://127.0.0.1:{port}");
        wait_for_driver(&url, &artifacts).await;

        let mut caps = DesiredCapabilities::chrome();
        let chromium_str = chromium.to_str().expect("the chromium path is UTF-8");
        caps.set_binary(chromium_str).expect("setting the binary");
        for arg in [
            "--headless=new",
            // Root in a container: the setuid sandbox cannot start.
            "--no-sandbox",
            // /dev/shm is small in containers; Chromium would crash on large pages.
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--lang=en-US",
            &format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        ] {
            caps.add_arg(arg).expect("adding a Chromium argument");
        }
        let driver = WebDriver::new(&url, caps).await.unwrap_or_else(|e| {
            panic!(
                "chromedriver at {url} could not open {}: {e}; see {}",
                chromium.display(),
                artifacts.join("chromedriver.log").display()
            )
        });
        let browser = Browser {
            driver: Some(driver),
            artifacts,
            chromedriver: guard.0.take().expect("the guard holds chromedriver"),
        };
        browser.set_viewport(WINDOW.0, WINDOW.1).await;
        browser
    }

    /// The WebDriver session, for anything the helpers below do not cover.
    pub fn driver(&self) -> &WebDriver {
        self.driver
            .as_ref()
            .expect("the session lives as long as the Browser")
    }

    /// Resizes the window so the page viewport is `width` x `height` CSS pixels.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        // The window rect includes browser chrome; correct by the measured difference.
        self.driver()
            .set_window_rect(0, 0, width, height)
            .await
            .expect("resizing the window");
        let inner = self
            .js("return [window.innerWidth, window.innerHeight];")
            .await;
        let (w, h) = (
            inner[0].as_u64().unwrap_or(0),
            inner[1].as_u64().unwrap_or(0),
        );
        if (w, h) != (u64::from(width), u64::from(height)) && w > 0 && h > 0 {
            let fix = |want: u32, got: u64| (2 * i64::from(want) - got as i64).max(1) as u32;
            self.driver()
                .set_window_rect(0, 0, fix(width, w), fix(height, h))
                .await
                .expect("resizing the window");
        }
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.driver()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("navigating to {url}: {e}"));
    }

    /// Runs a script and returns its JSON result.
    pub async fn js(&self, script: &str) -> Value {
        self.driver()
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("running script {script:?}: {e}"))
            .json()
            .clone()
    }

    /// The path of the current URL (`/signup`).
    pub async fn path(&self) -> String {
        self.driver()
            .current_url()
            .await
            .expect("reading the current URL")
            .path()
            .to_owned()
    }

    /// Waits up to five seconds for the current path to become `path`.
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = self.path().await;
            if now == path {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the browser did not reach {path} within 5s; it is at {now}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses a key on the focused element, like a person at the keyboard.
    pub async fn press(&self, key: Key) {
        self.driver()
            .action_chain()
            .send_keys(key)
            .perform()
            .await
            .expect("pressing a key");
    }

    /// What has the keyboard focus: `{tag, id, href, text}` of `document.activeElement`.
    pub async fn focused(&self) -> Value {
        self.js("const e = document.activeElement; \
             return e ? {tag: e.tagName.toLowerCase(), id: e.id, \
                         href: e.getAttribute('href'), text: (e.innerText || '').trim()} : null;")
            .await
    }

    /// Presses Tab until the element with `id` has the focus; panics after `max` presses with
    /// the elements that got the focus on the way (the tab order).
    pub async fn tab_to(&self, id: &str, max: usize) -> Value {
        let mut order = Vec::new();
        for _ in 0..max {
            self.press(Key::Tab).await;
            let focused = self.focused().await;
            if focused["id"] == id {
                return focused;
            }
            order.push(focused);
        }
        panic!(
            "#{id} did not get the focus within {max} Tab presses; the tab order was {order:#?}"
        );
    }

    /// Saves the viewport as `<artifacts>/<step>.png` and returns the path.
    pub async fn screenshot(&self, step: &str) -> PathBuf {
        let path = self.artifacts.join(format!("{step}.png"));
        self.driver()
            .screenshot(&path)
            .await
            .unwrap_or_else(|e| panic!("saving screenshot {}: {e}", path.display()));
        path
    }

    /// Saves the whole page (the window grown to the page's height) as `<step>.png`, then
    /// restores the window.
    pub async fn screenshot_full_page(&self, step: &str) -> PathBuf {
        let size = self
            .js("return [window.innerWidth, window.innerHeight, \
                 document.documentElement.scrollHeight];")
            .await;
        let dimension = |i: usize| size[i].as_u64().expect("window sizes are numbers") as u32;
        let (width, height, page) = (dimension(0), dimension(1), dimension(2));
        // Capped: Chromium refuses very large windows.
        self.set_viewport(width, page.min(8000)).await;
        let path = self.screenshot(step).await;
        self.set_viewport(width, height).await;
        path
    }

    /// The first element matching `css`; panics naming the selector when there is none.
    pub async fn find(&self, css: &str) -> WebElement {
        self.driver()
            .find(By::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element matches {css}: {e}"))
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .expect("reading an element's text")
    }

    /// Clears the field matching `css` and types `value` into it, like a person.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clearing a field");
        field.send_keys(value).await.expect("typing into a field");
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Polls `script` (a JavaScript expression returning a boolean) until it is true; panics
    /// with `what` and a screenshot after `timeout`.
    pub async fn wait_until(&self, what: &str, timeout: Duration, script: &str) {
        let deadline = Instant::now() + timeout;
        let script = format!("return Boolean({script});");
        loop {
            if self.js(&script).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot("timeout").await;
                let body = self.js("return document.body.innerText;").await;
                panic!(
                    "timed out after {timeout:?} waiting for {what} on {}; screenshot {}; page text:\n{}",
                    self.path().await,
                    shot.display(),
                    body.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asserts that nothing on the page scrolls sideways (a layout that fits the viewport);
    /// the message names the elements that stick out.
    pub async fn assert_no_sideways_scroll(&self) {
        let wide = self
            .js("if (document.documentElement.scrollWidth <= window.innerWidth) return []; \
                 return [...document.querySelectorAll('body *')] \
                   .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1) \
                   .slice(0, 8) \
                   .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + \
                        (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '') + \
                        ' right=' + Math.round(e.getBoundingClientRect().right));")
            .await;
        assert_eq!(
            wide,
            Value::Array(Vec::new()),
            "the page scrolls sideways at this width; these stick out"
        );
    }

    /// Logs in through the login form and waits to land on `/dashboard`.
    pub async fn log_in(&self, base: &str, email: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("form.form button[type=submit]").await;
        self.wait_for_path("/dashboard").await;
    }

    /// Ends the session (closing Chromium) and stops chromedriver.
    pub async fn quit(self) {
        let _ = self.driver().clone().quit().await;
        drop(self);
    }
}

/// Polls chromedriver's `/status` until it answers.
async fn wait_for_driver(url: &str, artifacts: &Path) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(response) = client.get(format!("{url}/status")).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer on {url} within 15s; see {}",
            artifacts.join("chromedriver.log").display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills chromedriver's process group (chromedriver and every browser it started).
fn kill_group(child: &mut Child) {
    let group = child.id();
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills chromedriver if [`Browser::start`] fails after spawning it.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            kill_group(child);
        }
    }
}

impl Drop for Browser {
    /// No chromedriver or Chromium outlives its test, even a failed one.
    fn drop(&mut self) {
        kill_group(&mut self.chromedriver);
        // Not dropped: an unquit thirtyfour session ends itself in Drop with a synchronous
        // DELETE that blocks for two minutes (its request timeout) after a panic, whether or
        // not chromedriver still runs. The browser is already gone with the process group.
        std::mem::forget(self.driver.take());
    }
}
