//! The web pages in a real browser: Debian's headless Chromium over WebDriver, against the
//! same router `tenantd serve` runs (a private world: own database and instance).
//! Every step saves a screenshot under `target/screenshots/<test>/`.

mod common;

use common::World;
use common::browser::Browser;
use thirtyfour::prelude::*;

/// Text of the first element matching `css`.
async fn text(browser: &Browser, css: &str) -> String {
    browser
        .driver()
        .find(By::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element matches {css}: {e}"))
        .text()
        .await
        .expect("reading an element's text")
}

/// Asserts the shared layout: header with the product, main landmark, footer.
async fn assert_layout(browser: &Browser) {
    let brand = text(browser, ".site-header .brand").await;
    assert!(
        brand.contains("tenantd"),
        "the header names the product: {brand:?}"
    );
    browser
        .driver()
        .find(By::Css("main#main"))
        .await
        .expect("the page has a main landmark");
    browser
        .driver()
        .find(By::Css("footer.site-footer"))
        .await
        .expect("the page has the footer");
    let lang = browser.js("return document.documentElement.lang;").await;
    assert_eq!(lang, "en");
}

/// The landing page states the offer, and its call to action reaches the signup with the
/// keyboard alone: Tab to the link, Enter to follow it.
#[tokio::test]
async fn landing_call_to_action_should_lead_to_signup_by_keyboard() {
    let world = World::without_controller("web-landing").await;
    let base = world.serve_api().await;
    let browser = Browser::start("landing").await;

    browser.goto(&format!("{base}/")).await;
    assert_layout(&browser).await;
    let title = browser.driver().title().await.unwrap();
    assert!(title.contains("Fresco"), "page title: {title:?}");
    assert_eq!(
        text(&browser, "h1").await,
        "Collect network data anywhere. We run the server."
    );
    let cta = browser.driver().find(By::Id("hero-cta")).await.unwrap();
    assert_eq!(cta.text().await.unwrap(), "Create your study server");
    assert!(
        cta.is_displayed().await.unwrap(),
        "the call to action is visible"
    );
    browser.screenshot("01-landing").await;
    browser.screenshot_full_page("01-landing-full").await;

    // The skip link comes first in the tab order, then the header, then the call to action.
    browser.press(Key::Tab).await;
    let first = browser.focused().await;
    assert_eq!(
        first["href"], "#main",
        "the skip link is the first stop: {first}"
    );
    browser.screenshot("02-skip-link-focused").await;
    let focused = browser.tab_to("hero-cta", 12).await;
    assert_eq!(
        focused["tag"], "a",
        "the call to action is a link: {focused}"
    );
    assert_eq!(focused["href"], "/signup");
    browser.screenshot("03-cta-focused").await;

    browser.press(Key::Enter).await;
    // /signup continues the wizard where it stands: step 1 for a new visitor.
    browser.wait_for_path("/signup/account").await;
    assert_layout(&browser).await;
    assert_eq!(text(&browser, "h1").await, "Create your account");
    browser.screenshot("04-signup").await;

    // The same page on a small phone.
    browser.set_viewport(360, 780).await;
    browser.goto(&format!("{base}/")).await;
    let overflow = browser
        .js("return document.documentElement.scrollWidth > window.innerWidth;")
        .await;
    assert_eq!(overflow, false, "nothing scrolls sideways at 360 px");
    browser.screenshot_full_page("05-landing-360px").await;

    browser.quit().await;
    world.cleanup().await;
}

/// The login form: every field has a label, the CSRF field is there, focus is visible, and
/// the support page and the 404 page share the layout.
#[tokio::test]
async fn login_fields_should_have_labels() {
    let world = World::without_controller("web-login").await;
    let base = world.serve_api().await;
    let browser = Browser::start("login").await;

    browser.goto(&format!("{base}/login")).await;
    assert_layout(&browser).await;
    assert_eq!(text(&browser, "h1").await, "Log in");
    for (id, label) in [
        ("email", "Email"),
        ("password", "Password"),
        ("remember", "Remember me for 30 days"),
    ] {
        let labels = browser
            .js(&format!(
                "return Array.from(document.getElementById('{id}').labels)\
                 .map(l => l.innerText.trim());"
            ))
            .await;
        assert_eq!(labels, serde_json::json!([label]), "#{id} is labelled");
    }
    let csrf = browser
        .js("return document.querySelector('form input[name=csrf]').type;")
        .await;
    assert_eq!(csrf, "hidden");
    let form = browser
        .js("const f = document.querySelector('main form'); return [f.method, new URL(f.action).pathname];")
        .await;
    assert_eq!(form, serde_json::json!(["post", "/login"]));
    browser.screenshot("01-login").await;

    // Focus is visible on a field.
    browser
        .driver()
        .find(By::Id("email"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let email = browser.driver().find(By::Id("email")).await.unwrap();
    email.send_keys("researcher@example.org").await.unwrap();
    let outline = browser
        .js("return getComputedStyle(document.activeElement).outlineStyle;")
        .await;
    assert_eq!(outline, "solid", "the focused field has an outline");
    browser.screenshot("02-login-email-focused").await;

    browser.set_viewport(360, 780).await;
    browser.screenshot("03-login-360px").await;
    browser.set_viewport(1280, 900).await;

    browser.goto(&format!("{base}/support")).await;
    assert_layout(&browser).await;
    browser
        .driver()
        .find(By::Css(".faq summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.screenshot_full_page("04-support").await;

    browser.goto(&format!("{base}/no-such-page")).await;
    assert_layout(&browser).await;
    browser.screenshot("05-not-found").await;

    browser.quit().await;
    world.cleanup().await;
}

/// The components the wizard and the dashboard will use, drawn with the real stylesheet so
/// their screenshots can be checked: the six-step stepper, the status badges, cards, buttons,
/// and a field with its inline error.
#[tokio::test]
async fn design_system_components_should_render() {
    let world = World::without_controller("web-design").await;
    let base = world.serve_api().await;
    let browser = Browser::start("design").await;
    browser.goto(&format!("{base}/support")).await;
    let specimen = r#"
      <div class="page"><div class="container stack">
        <h1>Components</h1>
        <ol class="stepper" aria-label="Sign-up progress">
          <li class="step is-done"><span class="step-label">Account</span></li>
          <li class="step is-done"><span class="step-label">Intended use</span></li>
          <li class="step" aria-current="step"><span class="step-label">Subdomain</span></li>
          <li class="step"><span class="step-label">Terms</span></li>
          <li class="step"><span class="step-label">Deployment</span></li>
          <li class="step"><span class="step-label">Success</span></li>
        </ol>
        <p>
          <span class="badge badge-ready">Ready</span>
          <span class="badge badge-provisioning">Provisioning</span>
          <span class="badge badge-pending">Pending</span>
          <span class="badge badge-stopped">Stopped</span>
          <span class="badge badge-degraded">Degraded</span>
          <span class="badge badge-terminating">Terminating</span>
        </p>
        <div class="grid grid-3">
          <div class="card"><h3>acme-lab</h3><p>https://acme-lab.tenants.test</p>
            <p class="actions"><button class="btn btn-secondary btn-sm">Stop</button>
            <button class="btn btn-ghost btn-sm">Restart</button>
            <button class="btn btn-danger btn-sm">Delete</button></p></div>
          <form class="card form" novalidate>
            <div class="field"><label for="sub">Subdomain</label>
              <input class="input" id="sub" value="www" aria-invalid="true" aria-describedby="sub-hint sub-error">
              <p class="field-hint" id="sub-hint">Lower-case letters, digits and hyphens.</p>
              <p class="field-error" id="sub-error">"www" is reserved for the platform; choose another name</p></div>
            <button class="btn btn-primary" type="button">Continue</button>
          </form>
          <div class="card"><div class="alert alert-info">Your server is being created.</div>
            <p></p><div class="alert alert-error">The image could not be pulled.</div></div>
        </div>
      </div></div>"#;
    browser
        .driver()
        .execute(
            "document.querySelector('main').innerHTML = arguments[0];",
            vec![serde_json::json!(specimen)],
        )
        .await
        .expect("drawing the components");
    let badges = browser
        .js("return Array.from(document.querySelectorAll('.badge')).map(b => getComputedStyle(b).backgroundColor);")
        .await;
    let distinct: std::collections::BTreeSet<String> = badges
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(distinct.len(), 6, "each phase has its own colour: {badges}");
    browser.screenshot("01-components").await;
    browser.tab_to("sub", 20).await;
    browser.screenshot("02-field-error-focused").await;
    browser.set_viewport(360, 780).await;
    browser.screenshot_full_page("03-components-360px").await;
    browser.quit().await;
    world.cleanup().await;
}

/// A registered user logs in through the real login form in the browser: the form's CSRF
/// token (a double-submit cookie for anonymous visitors) is accepted, the session cookie is
/// set, and the user lands on the page named by `?next=`; a forged token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_logs_in_through_the_login_form() {
    let world = World::without_controller("blogin").await;
    let base = world.serve_api().await;
    let accounts = tenantd::accounts::Accounts::new(
        world.ctx.store.clone(),
        tenantd::accounts::AccountsConfig::default(),
    );
    let email = format!("{}@example.test", world.prefix);
    accounts
        .register(
            &email,
            "correct horse battery 9",
            &tenantd::accounts::Client::default(),
        )
        .await
        .expect("registering a test user");

    let browser = Browser::start("login-flow").await;
    browser.goto(&format!("{base}/login?next=/support")).await;
    let driver = browser.driver();
    driver
        .find(By::Id("email"))
        .await
        .unwrap()
        .send_keys(&email)
        .await
        .unwrap();
    driver
        .find(By::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery 9")
        .await
        .unwrap();
    browser.screenshot("01-filled").await;
    driver
        .find(By::Css("form.form button[type=submit]"))
        .await
        .expect("the form has a submit button")
        .click()
        .await
        .unwrap();
    browser.wait_for_path("/support").await;
    let cookies = driver.get_all_cookies().await.unwrap();
    assert!(
        cookies.iter().any(|c| c.name.contains("session")),
        "a session cookie is set: {cookies:?}"
    );
    browser.screenshot("02-logged-in").await;

    // A forged CSRF token: the form is refused and no new session is made.
    driver.delete_all_cookies().await.unwrap();
    browser.goto(&format!("{base}/login")).await;
    browser
        .js("document.querySelector('input[name=csrf]').value = 'forged';")
        .await;
    driver
        .find(By::Id("email"))
        .await
        .unwrap()
        .send_keys(&email)
        .await
        .unwrap();
    driver
        .find(By::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery 9")
        .await
        .unwrap();
    driver
        .find(By::Css("form.form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let cookies = driver.get_all_cookies().await.unwrap();
    assert!(
        !cookies.iter().any(|c| c.name.contains("session")),
        "a forged token opens no session: {cookies:?}"
    );
    browser.screenshot("03-forged-refused").await;
    browser.quit().await;
    world.cleanup().await;
}

/// Whether `email`/`password` log in over plain HTTP (a fresh visitor, no browser state).
async fn password_works(base: &str, email: &str, password: &str) -> bool {
    let mut visitor = common::web::Visitor::new(base);
    visitor.page("/login").await;
    let (status, _, _) = visitor
        .post("/login", &[("email", email), ("password", password)])
        .await;
    status == reqwest::StatusCode::SEE_OTHER
}

/// A wrong password re-renders the login form in the browser with one generic message next
/// to the password field (the field marked invalid, the typed email kept), and no session
/// cookie is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_password_is_shown_next_to_the_field_and_opens_no_session() {
    let world = World::without_controller("bwrong").await;
    let base = world.serve_api().await;
    let email = format!("{}@example.test", world.prefix);
    common::web::register_user(&world, &email).await;

    let browser = Browser::start("login-wrong-password").await;
    browser.goto(&format!("{base}/login")).await;
    browser.fill("#email", &email).await;
    browser.fill("#password", "Not-The-Password-1").await;
    browser.click("form.form button[type=submit]").await;
    browser
        .wait_until(
            "the password error",
            std::time::Duration::from_secs(10),
            "document.getElementById('password-error').textContent.trim().length > 0",
        )
        .await;
    assert_eq!(
        browser.text("#password-error").await,
        tenantd::web::account::login::BAD_CREDENTIALS,
        "one generic message next to the password field"
    );
    let state = browser
        .js(
            "return [document.getElementById('password').getAttribute('aria-invalid'), \
                     document.getElementById('email').value, \
                     document.getElementById('password').value, \
                     document.getElementById('password-error').getBoundingClientRect().top \
                       > document.getElementById('password').getBoundingClientRect().bottom];",
        )
        .await;
    assert_eq!(
        state,
        serde_json::json!(["true", email, "", true]),
        "invalid password field, email kept, password not echoed, message right below the field"
    );
    let cookies = browser.driver().get_all_cookies().await.unwrap();
    assert!(
        !cookies.iter().any(|c| c.name.contains("session")),
        "no session cookie: {cookies:?}"
    );
    browser.screenshot("01-wrong-password").await;

    // The same form, corrected, logs in: the re-rendered page carries a working CSRF token.
    browser.fill("#password", common::web::PASSWORD).await;
    browser.click("form.form button[type=submit]").await;
    browser.wait_for_path("/dashboard").await;
    browser.quit().await;
    world.cleanup().await;
}

/// The settings page, reached from the header's Settings link, changes the password: a
/// wrong current password, a weak new one and a mismatched confirmation each show their
/// message next to the field and change nothing (the old password still works); then the
/// change succeeds with a notice, the old password stops working and the new one works.
/// The page fits 360 px. "Resend verification email" mails a link that, followed, shows the
/// address as verified (once: a second visit is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_settings_page_changes_the_password_and_refuses_bad_input_next_to_the_fields() {
    let world = World::without_controller("bsettings").await;
    let base = world.serve_api().await;
    let email = format!("{}@example.test", world.prefix);
    common::web::register_user(&world, &email).await;
    let old = common::web::PASSWORD;
    let new = "Battery-Staple-77";

    let browser = Browser::start("settings-password").await;
    browser.log_in(&base, &email, old).await;
    browser.click(".site-nav a[href='/settings']").await;
    browser.wait_for_path("/settings").await;
    assert_eq!(
        browser
            .js("return document.querySelector('.site-nav a[href=\"/settings\"]').getAttribute('aria-current');")
            .await,
        "page"
    );
    assert_eq!(browser.text("#email-address").await, email);
    assert_eq!(browser.text("#email-status").await, "Not verified");
    assert_eq!(browser.text("#resend").await, "Resend verification email");
    browser.screenshot_full_page("01-settings").await;

    for (step, current, new_password, confirm, field, words) in [
        (
            "02-wrong-current",
            "Wrong-Horse-42",
            new,
            new,
            "current_password",
            "not your current password",
        ),
        (
            "03-weak-new",
            old,
            "short",
            "short",
            "new_password",
            "at least",
        ),
        (
            "04-mismatch",
            old,
            new,
            "Battery-Staple-78",
            "confirm_password",
            "Does not match",
        ),
    ] {
        browser.fill("#current_password", current).await;
        browser.fill("#new_password", new_password).await;
        browser.fill("#confirm_password", confirm).await;
        if step == "03-weak-new" {
            assert_eq!(
                browser
                    .js("var m = document.getElementById('new_password-strength'); \
                         return [m.hidden, m.querySelector('.meter-label').textContent];")
                    .await,
                serde_json::json!([false, "Strength: Too short"]),
                "the signup meter works here too"
            );
        }
        browser.click("#change-password").await;
        browser
            .wait_until(
                &format!("the {field} error"),
                std::time::Duration::from_secs(10),
                &format!("document.getElementById('{field}-error').textContent.trim().length > 0"),
            )
            .await;
        let message = browser.text(&format!("#{field}-error")).await;
        assert!(message.contains(words), "{step}: {message:?}");
        assert_eq!(
            browser
                .js(&format!(
                    "return document.getElementById('{field}').getAttribute('aria-invalid');"
                ))
                .await,
            "true",
            "{step}"
        );
        browser.screenshot(step).await;
        assert!(
            password_works(&base, &email, old).await,
            "{step} changed nothing"
        );
    }

    browser.fill("#current_password", old).await;
    browser.fill("#new_password", new).await;
    browser.fill("#confirm_password", new).await;
    browser.click("#change-password").await;
    browser
        .wait_until(
            "the notice",
            std::time::Duration::from_secs(10),
            "document.getElementById('notice') !== null",
        )
        .await;
    assert!(
        browser
            .text("#notice")
            .await
            .contains("Your password was changed")
    );
    assert_eq!(browser.path().await, "/settings");
    browser.screenshot("05-changed").await;
    assert!(
        !password_works(&base, &email, old).await,
        "the old password stops working"
    );
    assert!(
        password_works(&base, &email, new).await,
        "the new one works"
    );

    browser.set_viewport(360, 800).await;
    browser.goto(&format!("{base}/settings")).await;
    browser.assert_no_sideways_scroll().await;
    browser.screenshot_full_page("06-narrow").await;
    browser.set_viewport(1280, 900).await;

    // Resend the verification mail, follow its link, and the page says "Verified".
    browser.click("#resend").await;
    browser
        .wait_until(
            "the resend notice",
            std::time::Duration::from_secs(10),
            "document.getElementById('notice') !== null",
        )
        .await;
    assert!(
        browser
            .text("#notice")
            .await
            .contains("We sent a new verification link")
    );
    let outbox = &world.config.mail_outbox_dir;
    let mail = std::fs::read_dir(outbox)
        .unwrap_or_else(|e| panic!("the outbox {} exists: {e}", outbox.display()))
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|m| m.contains(&format!("\r\nTo: {email}\r\n")))
        .expect("a verification mail to the user");
    let public = world.config.web_public_url();
    let link = mail
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{public}/verify-email?token=")))
        .expect("the mail has the link");
    browser.goto(&link.replacen(&public, &base, 1)).await;
    assert_eq!(browser.text("h1").await, "Your email address is verified");
    browser.screenshot("07-verified").await;
    browser.goto(&link.replacen(&public, &base, 1)).await;
    assert_eq!(browser.text("h1").await, "This link has already been used");
    browser.screenshot("08-used").await;
    browser.goto(&format!("{base}/settings")).await;
    assert_eq!(browser.text("#email-status").await, "Verified");
    browser.screenshot("09-settings-verified").await;
    browser.quit().await;
    world.cleanup().await;
}
