//! The dashboard against a real tenantd: the controller on the real Docker engine, real
//! Postgres, headless Chromium. Screenshots land in `target/screenshots/dashboard-*/`.

mod common;

use std::time::{Duration, Instant};

use common::World;
use common::browser::Browser;
use common::web::{PASSWORD, Visitor, register_user};
use reqwest::StatusCode;

/// Polls the container until its running state is `running`.
async fn wait_running(world: &World, name: &str, running: bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = world
            .inspect(name)
            .await
            .and_then(|i| i.state)
            .and_then(|s| s.running);
        if state == Some(running) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the container of {name} did not become running={running} within 60s (now {state:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stop and start from the dashboard, in a real browser, change the container's state.
#[tokio::test]
async fn stop_and_start_from_the_dashboard_change_the_container() {
    let world = World::start("dash-verbs").await;
    let base = world.serve_api().await;
    let email = format!("{}@example.org", world.name("owner"));
    let user = register_user(&world, &email).await;
    let mut tenant = world.tenant("app");
    tenant.metadata.owner = Some(user.id.to_string());
    let name = world.apply(&tenant).await.metadata.name;
    world.wait_ready(&name).await;

    let browser = Browser::start("dashboard-verbs").await;
    browser.log_in(&base, &email, PASSWORD).await;
    let card = format!("#tenant-{name}");
    assert!(
        browser
            .text(&format!("{card} .badge"))
            .await
            .contains("Ready")
    );
    browser.screenshot("01-overview").await;

    browser
        .click(&format!("{card} button[aria-label='Stop {name}']"))
        .await;
    browser.wait_for_path("/dashboard").await;
    assert_eq!(
        browser.text("#notice").await,
        format!("{name} is stopping.")
    );
    wait_running(&world, &name, false).await;
    world
        .wait_phase(&name, tenantd::resource::Phase::Stopped)
        .await;
    browser.goto(&format!("{base}/dashboard")).await;
    assert!(
        browser
            .text(&format!("{card} .badge"))
            .await
            .contains("Stopped")
    );
    browser.screenshot("02-stopped").await;

    browser
        .click(&format!("{card} button[aria-label='Start {name}']"))
        .await;
    browser.wait_for_path("/dashboard").await;
    wait_running(&world, &name, true).await;
    world.wait_ready(&name).await;
    browser.set_viewport(360, 780).await;
    browser.goto(&format!("{base}/dashboard")).await;
    browser.screenshot_full_page("03-overview-360px").await;
    browser.assert_no_sideways_scroll().await;

    browser.quit().await;
    world.cleanup().await;
}

/// A second user neither sees nor acts on the first user's tenant, in the pages or the
/// API; a forged CSRF token changes nothing.
#[tokio::test]
async fn a_second_user_cannot_see_or_act_on_the_first_users_tenant() {
    let world = World::without_controller("dash-iso").await;
    let base = world.serve_api().await;
    let first_email = format!("{}@example.org", world.name("first"));
    let second_email = format!("{}@example.org", world.name("second"));
    let first = register_user(&world, &first_email).await;
    register_user(&world, &second_email).await;
    let mut tenant = world.tenant("mine");
    tenant.metadata.owner = Some(first.id.to_string());
    let name = world.apply(&tenant).await.metadata.name;
    let before = world.get(&name).await.unwrap();

    let mut owner = Visitor::new(&base);
    owner.log_in(&first_email, PASSWORD).await;
    let (status, page) = owner.page("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!(r#"id="tenant-{name}""#)), "{page}");
    // A forged token: 403, nothing changed.
    let (status, _, _) = owner
        .post(
            &format!("/dashboard/tenants/{name}/stop"),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let mut other = Visitor::new(&base);
    other.log_in(&second_email, PASSWORD).await;
    let (_, page) = other.page("/dashboard").await;
    assert!(
        !page.contains(&name),
        "the other user's dashboard does not list it"
    );
    assert!(page.contains("No study servers yet"));
    for action in ["stop", "start", "restart"] {
        let (status, _, _) = other
            .post(&format!("/dashboard/tenants/{name}/{action}"), &[])
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
    }
    let api = other
        .http
        .get(format!("{base}/api/v1/tenants/{name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND, "the API says the same");

    let after = world.get(&name).await.unwrap();
    assert_eq!(after.spec, before.spec, "nothing changed");
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );

    // The owner's own action works and is a spec edit.
    let (status, location, _) = owner
        .post(&format!("/dashboard/tenants/{name}/stop"), &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, Some(format!("/dashboard?done=stop&name={name}")));
    assert_eq!(
        world.get(&name).await.unwrap().spec.state,
        tenantd::resource::DesiredState::Stopped
    );

    world.cleanup().await;
}

/// The pages' tenant writes draw on the API's per-user write limit: past it, a dashboard
/// action gets the 429 page and changes nothing, and the API refuses that user too (one
/// bucket, whichever way the writes come).
#[tokio::test]
async fn dashboard_actions_share_the_api_write_limit() {
    let world = World::without_controller("dash-limit").await;
    let mut api_config = tenantd::app::api_config(&world.api_test_config());
    api_config.write_rate_per_second = 0.01;
    api_config.write_burst = 2.0;
    let base = world.serve_api_with(api_config).await;
    let email = format!("{}@example.org", world.name("owner"));
    let user = register_user(&world, &email).await;
    let mut tenant = world.tenant("busy");
    tenant.metadata.owner = Some(user.id.to_string());
    let name = world.apply(&tenant).await.metadata.name;

    let mut owner = Visitor::new(&base);
    owner.log_in(&email, PASSWORD).await;
    for action in ["stop", "start"] {
        let (status, _, _) = owner
            .post(&format!("/dashboard/tenants/{name}/{action}"), &[])
            .await;
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "{action} is within the burst"
        );
    }
    let before = world.get(&name).await.unwrap();
    let (status, _, page) = owner
        .post(&format!("/dashboard/tenants/{name}/stop"), &[])
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("Too many changes"), "{page}");
    assert!(page.contains("Nothing was changed"), "{page}");
    let after = world.get(&name).await.unwrap();
    assert_eq!(after.spec.state, tenantd::resource::DesiredState::Running);
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the refused action wrote nothing"
    );

    let csrf = owner
        .csrf
        .clone()
        .expect("the dashboard rendered a CSRF token");
    let api = owner
        .http
        .post(format!("{base}/api/v1/tenants/{name}/restart"))
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the API shares the bucket"
    );
    world.cleanup().await;
}

/// A logged-in user who reaches an unknown page keeps their header (and its Log out).
#[tokio::test]
async fn the_404_page_keeps_a_logged_in_users_header() {
    let world = World::without_controller("dash-404").await;
    let base = world.serve_api().await;
    let email = format!("{}@example.org", world.name("lost"));
    register_user(&world, &email).await;
    let mut visitor = Visitor::new(&base);
    let (status, page) = visitor.page("/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!page.contains("Log out"), "anonymous: {page}");
    visitor.log_in(&email, PASSWORD).await;
    let (status, page) = visitor.page("/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("Log out"), "logged in: {page}");
    world.cleanup().await;
}
