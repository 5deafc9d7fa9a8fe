//! The signup wizard against a real tenantd (router, Postgres, and for the full flow the
//! controller on the real Docker engine), in headless Chromium and over plain HTTP.
//! Screenshots of every step land in `target/screenshots/signup-*/`.

mod common;

use std::time::Duration;

use common::World;
use common::browser::Browser;
use common::web::{PASSWORD, Visitor};
use reqwest::StatusCode;

/// Generous for a loaded 2-core machine; the wizard itself answers in milliseconds.
const STEP: Duration = Duration::from_secs(10);

async fn user_count(world: &World) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&world.admin)
        .await
        .unwrap()
}

/// Steps 1 and 2 in the browser, as a person would do them.
async fn browser_account_and_use(browser: &Browser, base: &str, email: &str, shots: bool) {
    browser.goto(&format!("{base}/signup")).await;
    browser.wait_for_path("/signup/account").await;
    browser.fill("#email", email).await;
    browser.fill("#password", PASSWORD).await;
    browser.fill("#confirm_password", PASSWORD).await;
    browser
        .wait_until(
            "the strength meter",
            STEP,
            "!document.getElementById('password-strength').hidden",
        )
        .await;
    if shots {
        browser.screenshot("01-account").await;
    }
    browser.click("#continue").await;
    browser.wait_for_path("/signup/use").await;
    browser.click("label[for=use-study]").await;
    if shots {
        browser.screenshot("02-intended-use").await;
    }
    browser.click("#continue").await;
    browser.wait_for_path("/signup/subdomain").await;
}

/// A new user completes all six steps in a real browser and reaches a Ready tenant whose
/// container answers; every step is saved as a screenshot.
#[tokio::test]
async fn a_new_user_completes_all_six_steps_and_reaches_a_ready_tenant() {
    let world = World::start("su-full").await;
    let base = world.serve_api().await;
    let browser = Browser::start("signup-full").await;
    let name = world.name("lab");
    let email = format!("{name}@example.org");

    browser_account_and_use(&browser, &base, &email, true).await;

    // Step 3: the live check says the address is free and previews it.
    browser.fill("#subdomain", &name).await;
    browser
        .wait_until(
            "the live check to say available",
            STEP,
            "document.getElementById('subdomain-status').dataset.status === 'available'",
        )
        .await;
    let preview = browser.text("#url-preview").await;
    assert_eq!(preview, format!("http://{name}.tenants.test"));
    browser.screenshot("03-subdomain").await;
    browser.click("#continue").await;

    // Step 4: the terms scroll in their own region; the box must be ticked.
    browser.wait_for_path("/signup/terms").await;
    let scrolls = browser
        .js("const t = document.querySelector('.terms'); return t.scrollHeight > t.clientHeight;")
        .await;
    assert_eq!(scrolls, true, "the terms text scrolls in its box");
    browser.click("label[for=accept]").await;
    browser.screenshot("04-terms").await;
    browser.click("#continue").await;

    // Step 5: the summary, then the live progress.
    browser.wait_for_path("/signup/deploy").await;
    assert!(browser.text(".summary").await.contains(&name));
    browser.screenshot("05-deploy-summary").await;
    browser.click("#deploy-start").await;
    browser
        .wait_until(
            "the progress checklist",
            STEP,
            "document.getElementById('checklist') !== null",
        )
        .await;
    browser.screenshot("05-deploy-progress").await;

    // Step 6, reached by the page itself once the tenant is Ready.
    browser
        .wait_until(
            "the success page",
            Duration::from_secs(90),
            "location.pathname === '/signup/done'",
        )
        .await;
    let url = browser.text("#tenant-url").await;
    assert_eq!(url, format!("http://{name}.tenants.test"));
    browser.screenshot("06-done").await;
    browser.set_viewport(360, 780).await;
    browser.screenshot_full_page("06-done-360px").await;
    browser.assert_no_sideways_scroll().await;

    // The tenant belongs to the new user, is Ready, and its container answers.
    let tenant = world.wait_ready(&name).await;
    let owner: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1)")
            .bind(&email)
            .fetch_one(&world.admin)
            .await
            .unwrap();
    assert_eq!(tenant.metadata.owner, Some(owner.to_string()));
    assert_eq!(tenant.metadata.labels["intended-use"], "study");
    let (status, body) = world.app(&name, reqwest::Method::GET, "/status").await;
    assert_eq!(
        status, 200,
        "the tenant's app answers, with its database: {body}"
    );

    browser.quit().await;
    world.cleanup().await;
}

/// A taken subdomain shows why and three free alternatives; picking one goes on to step 4.
#[tokio::test]
async fn a_taken_subdomain_shows_suggestions_and_picking_one_works() {
    let world = World::without_controller("su-taken").await;
    let base = world.serve_api().await;
    let taken = world.tenant("acme");
    world.apply(&taken).await;
    let name = taken.metadata.name.clone();
    let browser = Browser::start("signup-taken").await;

    browser_account_and_use(&browser, &base, &format!("{name}@example.org"), false).await;
    browser.fill("#subdomain", &name).await;
    browser
        .wait_until(
            "the live check to say taken",
            STEP,
            "document.getElementById('subdomain-status').dataset.status === 'taken'",
        )
        .await;
    assert!(
        browser
            .text("#subdomain-status")
            .await
            .contains("already taken")
    );
    let suggestions = browser
        .js("return [...document.querySelectorAll('#suggestions .suggestion')].map(b => b.value);")
        .await;
    let suggestions: Vec<String> = serde_json::from_value(suggestions).unwrap();
    assert_eq!(suggestions.len(), 3, "{suggestions:?}");
    assert!(
        suggestions
            .iter()
            .all(|s| s != &name && s.starts_with(&name))
    );
    browser.screenshot("03-subdomain-taken").await;

    browser.click("#suggestions .suggestion").await;
    browser.wait_for_path("/signup/terms").await;
    let chosen: Option<String> = sqlx::query_scalar("SELECT subdomain FROM signup_sessions")
        .fetch_one(&world.admin)
        .await
        .unwrap();
    assert_eq!(chosen.as_deref(), Some(suggestions[0].as_str()));

    // Without JavaScript the form answers the same: the message next to the field and the
    // suggestions as buttons.
    let mut visitor = Visitor::new(&base);
    visitor
        .log_in(&format!("{name}@example.org"), PASSWORD)
        .await;
    // A new browser starts its own wizard; the account counts as step 1.
    visitor.page("/signup/use").await;
    visitor
        .post("/signup/use", &[("intended_use", "study")])
        .await;
    let (status, _, page) = visitor
        .post("/signup/subdomain", &[("subdomain", name.as_str())])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("already taken"), "{page}");
    assert_eq!(page.matches(r#"name="pick""#).count(), 3);

    browser.quit().await;
    world.cleanup().await;
}

/// Bad input gets its message next to the field and changes nothing: an invalid email, a
/// weak password, an invalid subdomain, the terms left unticked, a forged CSRF token.
#[tokio::test]
async fn bad_input_gets_the_message_next_to_the_field_and_changes_nothing() {
    let world = World::without_controller("su-bad").await;
    let base = world.serve_api().await;
    let browser = Browser::start("signup-bad").await;

    browser.goto(&format!("{base}/signup")).await;
    browser.wait_for_path("/signup/account").await;
    browser.fill("#email", "not-an-email").await;
    browser.fill("#password", "short").await;
    browser.fill("#confirm_password", "other").await;
    browser.click("#continue").await;
    browser
        .wait_until(
            "the error messages",
            STEP,
            "document.getElementById('email-error').innerText.length > 0",
        )
        .await;
    assert!(!browser.text("#email-error").await.is_empty());
    let password_error = browser.text("#password-error").await;
    assert!(
        password_error.contains("at least 10 characters"),
        "{password_error}"
    );
    assert!(
        browser
            .text("#confirm_password-error")
            .await
            .contains("Does not match")
    );
    assert_eq!(
        browser
            .js("return document.getElementById('email').getAttribute('aria-invalid');")
            .await,
        "true"
    );
    assert_eq!(
        browser
            .js("return document.getElementById('email').value;")
            .await,
        "not-an-email"
    );
    browser.screenshot("01-account-errors").await;
    assert_eq!(user_count(&world).await, 0, "no account was made");

    // A valid account, then an invalid subdomain and unticked terms.
    let name = world.name("ok");
    browser.fill("#email", &format!("{name}@example.org")).await;
    browser.fill("#password", PASSWORD).await;
    browser.fill("#confirm_password", PASSWORD).await;
    browser.click("#continue").await;
    browser.wait_for_path("/signup/use").await;
    browser.click("#continue").await;
    browser
        .wait_until(
            "the choice error",
            STEP,
            "document.getElementById('intended_use-error').innerText.length > 0",
        )
        .await;
    browser.click("label[for=use-study]").await;
    browser.click("#continue").await;
    browser.wait_for_path("/signup/subdomain").await;
    browser.fill("#subdomain", "Bad_Name").await;
    browser
        .wait_until(
            "the live check to say invalid",
            STEP,
            "document.getElementById('subdomain-status').dataset.status === 'invalid'",
        )
        .await;
    assert!(
        browser
            .text("#subdomain-status")
            .await
            .contains("lowercase")
    );
    browser.screenshot("03-subdomain-invalid").await;
    browser.click("#continue").await;
    browser
        .wait_until("the submitted form's error", STEP, "document.getElementById('subdomain').getAttribute('aria-invalid') === 'true' && document.readyState === 'complete' && location.pathname === '/signup/subdomain'")
        .await;
    assert!(
        browser
            .text("#subdomain-status")
            .await
            .contains("lowercase")
    );
    browser.fill("#subdomain", &name).await;
    browser.click("#continue").await;
    browser.wait_for_path("/signup/terms").await;
    browser.click("#continue").await;
    browser
        .wait_until(
            "the terms error",
            STEP,
            "document.getElementById('accept-error').innerText.length > 0",
        )
        .await;
    assert!(browser.text("#accept-error").await.contains("Tick the box"));
    browser.screenshot("04-terms-unticked").await;
    let accepted: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT terms_accepted_at FROM signup_sessions WHERE subdomain = $1")
            .bind(&name)
            .fetch_one(&world.admin)
            .await
            .unwrap();
    assert_eq!(accepted, None, "unticked terms are not recorded");

    // A forged CSRF token: 403, and the step is not recorded.
    let mut visitor = Visitor::new(&base);
    visitor
        .log_in(&format!("{name}@example.org"), PASSWORD)
        .await;
    visitor.page("/signup/terms").await;
    let (status, _, _) = visitor
        .post("/signup/terms", &[("accept", "yes"), ("csrf", "forged")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = visitor
        .post(
            "/signup/deploy",
            &[(
                "csrf",
                "0000000000000000000000000000000000000000000000000000000000000000",
            )],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let accepted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM signup_sessions WHERE terms_accepted_at IS NOT NULL",
    )
    .fetch_one(&world.admin)
    .await
    .unwrap();
    assert_eq!(accepted, 0);
    assert!(world.get(&name).await.is_none(), "no tenant was written");

    browser.quit().await;
    world.cleanup().await;
}

/// Walks steps 1 to 4 over HTTP for `email`, choosing `subdomain`.
async fn http_steps_one_to_four(visitor: &mut Visitor, email: &str, subdomain: &str) {
    let (status, _) = visitor.page("/signup/account").await;
    assert_eq!(status, StatusCode::OK);
    let (status, location, body) = visitor
        .post(
            "/signup/account",
            &[
                ("email", email),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/signup/use")),
        "{body}"
    );
    visitor.page("/signup/use").await;
    let (_, location, _) = visitor
        .post("/signup/use", &[("intended_use", "study")])
        .await;
    assert_eq!(location.as_deref(), Some("/signup/subdomain"));
    let (_, location, body) = visitor
        .post("/signup/subdomain", &[("subdomain", subdomain)])
        .await;
    assert_eq!(location.as_deref(), Some("/signup/terms"), "{body}");
    let (_, location, _) = visitor.post("/signup/terms", &[("accept", "yes")]).await;
    assert_eq!(location.as_deref(), Some("/signup/deploy"));
}

/// Steps cannot be skipped (pages and POSTs alike), the wizard resumes where it stood, and
/// a session unused for an hour is gone.
#[tokio::test]
async fn steps_cannot_be_skipped_and_an_idle_wizard_expires() {
    let world = World::without_controller("su-gate").await;
    let base = world.serve_api().await;
    let mut visitor = Visitor::new(&base);

    for step in ["use", "subdomain", "terms", "deploy", "done"] {
        let (status, _) = visitor.page(&format!("/signup/{step}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{step}");
    }
    let response = visitor
        .http
        .get(format!("{base}/signup/terms"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/signup/account");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(cookie.contains("Max-Age=3600"), "{cookie}");

    let name = world.name("gate");
    let email = format!("{name}@example.org");
    visitor.page("/signup/account").await;
    let (_, location, _) = visitor
        .post(
            "/signup/account",
            &[
                ("email", email.as_str()),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(location.as_deref(), Some("/signup/use"));
    // A POST of a later step is refused the same way, and records nothing.
    visitor.page("/signup/use").await;
    let (status, location, _) = visitor.post("/signup/terms", &[("accept", "yes")]).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/signup/use"))
    );
    let (_, location, _) = visitor.post("/signup/deploy", &[]).await;
    assert_eq!(location.as_deref(), Some("/signup/use"));
    assert!(world.get(&name).await.is_none());

    // Testing or learning: the public sandbox is suggested first, and going on is a choice.
    let (status, location, page) = visitor
        .post("/signup/use", &[("intended_use", "testing")])
        .await;
    assert_eq!((status, location), (StatusCode::OK, None));
    assert!(
        page.contains("Fresco sandbox") && page.contains("Continue anyway"),
        "{page}"
    );
    let recorded: Option<String> = sqlx::query_scalar("SELECT intended_use FROM signup_sessions")
        .fetch_one(&world.admin)
        .await
        .unwrap();
    assert_eq!(
        recorded, None,
        "nothing is recorded until the visitor goes on"
    );

    // Resumed: /signup continues at the first step not done.
    let (_, location, _) = visitor
        .post("/signup/use", &[("intended_use", "study")])
        .await;
    assert_eq!(location.as_deref(), Some("/signup/subdomain"));
    let response = visitor
        .http
        .get(format!("{base}/signup"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/signup/subdomain");

    // An hour unused: the session is gone; a POST gets the expired page and changes nothing.
    sqlx::query("UPDATE signup_sessions SET expires_at = now() - interval '1 second'")
        .execute(&world.admin)
        .await
        .unwrap();
    visitor.page("/dashboard").await;
    let (status, _, page) = visitor
        .post("/signup/subdomain", &[("subdomain", name.as_str())])
        .await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("expired"), "{page}");
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM signup_sessions WHERE subdomain IS NOT NULL")
            .fetch_one(&world.admin)
            .await
            .unwrap();
    assert_eq!(recorded, 0);
    // Starting again, the account (still logged in) counts as step 1.
    let response = visitor
        .http
        .get(format!("{base}/signup"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/signup/use");

    world.cleanup().await;
}

/// Two people racing for one subdomain at step 5: one gets the tenant, the other is sent
/// back to step 3 with free alternatives, and nothing of the winner's is overwritten.
#[tokio::test]
async fn two_people_racing_for_one_subdomain_one_wins_and_the_other_gets_suggestions() {
    let world = World::without_controller("su-race").await;
    let base = world.serve_api().await;
    let name = world.name("race");
    let mut first = Visitor::new(&base);
    let mut second = Visitor::new(&base);
    http_steps_one_to_four(&mut first, &format!("a-{name}@example.org"), &name).await;
    http_steps_one_to_four(&mut second, &format!("b-{name}@example.org"), &name).await;
    first.page("/signup/deploy").await;
    second.page("/signup/deploy").await;

    let (a, b) = tokio::join!(
        first.post("/signup/deploy", &[]),
        second.post("/signup/deploy", &[])
    );
    let locations = [
        a.1.clone().unwrap_or_default(),
        b.1.clone().unwrap_or_default(),
    ];
    let back = format!("/signup/subdomain?taken={name}");
    assert_eq!(
        locations.iter().filter(|l| *l == "/signup/deploy").count(),
        1,
        "exactly one wins: {locations:?}"
    );
    assert_eq!(
        locations.iter().filter(|l| **l == back).count(),
        1,
        "{locations:?}"
    );
    let first_won = locations[0] == "/signup/deploy";
    let winner_email = if first_won { "a" } else { "b" };
    let (winner, loser) = if first_won {
        (&mut first, &mut second)
    } else {
        (&mut second, &mut first)
    };

    let tenant = world.get(&name).await.expect("the winner's tenant");
    let owner_email: String = sqlx::query_scalar("SELECT email FROM users WHERE id::text = $1")
        .bind(tenant.metadata.owner.as_deref().unwrap())
        .fetch_one(&world.admin)
        .await
        .unwrap();
    assert!(
        owner_email.starts_with(&format!("{winner_email}-")),
        "{owner_email}"
    );
    let (status, page) = winner.page("/signup/deploy").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Setting up your server"), "{page}");

    let (status, page) = loser.page(&back).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Someone took"), "{page}");
    assert_eq!(page.matches(r#"name="pick""#).count(), 3);
    // The loser must choose again before deploying.
    let (_, location, _) = loser.post("/signup/deploy", &[]).await;
    assert_eq!(location.as_deref(), Some("/signup/subdomain"));
    assert_eq!(
        world.get(&name).await.unwrap().metadata.owner,
        tenant.metadata.owner
    );

    world.cleanup().await;
}
