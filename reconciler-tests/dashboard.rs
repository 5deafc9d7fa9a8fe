//! The dashboard against a real tenantd: the controller on the real Docker engine, real
//! Postgres, headless Chromium. Screenshots land in `target/screenshots/dashboard-*/`.

mod common;

use std::time::{Duration, Instant};

use common::World;
use common::browser::Browser;
use common::web::{PASSWORD, Visitor, hidden_value, register_user};
use reqwest::StatusCode;
use serde_json::Value;
use tenantd::resource::{DeletionPolicy, DesiredState, Phase, Tenant};
use thirtyfour::Key;

/// Runs the stats sampler of the world's engine every `period` until the sender is dropped.
fn start_sampler(world: &World, period: Duration) -> tokio::sync::watch::Sender<bool> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let engine = world.ctx.engine.clone();
    tokio::spawn(async move { engine.run_stats_sampler(period, stopped).await });
    stop
}

/// Waits until the sampler holds at least `count` samples of the tenant.
async fn wait_samples(world: &World, name: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let from = chrono::Utc::now() - chrono::TimeDelta::minutes(15);
        let have = world.ctx.engine.history().since(name, from).len();
        if have >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the sampler took {have} samples of {name} in 30s, not {count}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A tenant of the world owned by `owner`.
fn owned(world: &World, short: &str, owner: &tenantd::accounts::User) -> Tenant {
    let mut tenant = world.tenant(short);
    tenant.metadata.owner = Some(owner.id.to_string());
    tenant
}

/// The names of the overview's cards that are not hidden, in page order.
async fn shown_cards(browser: &Browser) -> Vec<String> {
    let shown = browser
        .js("return [...document.querySelectorAll('.tenant-card')] \
             .filter(c => !c.hidden).map(c => c.dataset.name);")
        .await;
    shown
        .as_array()
        .expect("a list of names")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Sets a 360 px wide viewport and checks it took: a resize right after a full-page
/// screenshot's own resizes can be measured mid-way and land elsewhere, so it is retried.
async fn narrow_viewport(browser: &Browser) {
    for _ in 0..5 {
        browser.set_viewport(360, 780).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if browser.js("return window.innerWidth;").await == 360 {
            return;
        }
    }
    panic!("the window did not become 360 px wide");
}

/// The env of the tenant's container as `docker inspect` shows it.
async fn container_env(world: &World, name: &str) -> Vec<String> {
    world
        .inspect(name)
        .await
        .and_then(|i| i.config)
        .and_then(|c| c.env)
        .unwrap_or_default()
}

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
    // The page is already /dashboard before the click, so wait for the redirect's notice
    // rather than the path.
    browser
        .wait_until(
            "the stop notice",
            Duration::from_secs(20),
            &format!(
                "document.querySelector('#notice')?.textContent.trim() === '{name} is stopping.'"
            ),
        )
        .await;
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
    browser
        .wait_until(
            "the start notice",
            Duration::from_secs(20),
            "document.querySelector('#notice') !== null",
        )
        .await;
    wait_running(&world, &name, true).await;
    world.wait_ready(&name).await;
    narrow_viewport(&browser).await;
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
    for (path, field) in [
        ("delete", ("confirm_name", name.as_str())),
        ("env", ("env-0-name", "X")),
    ] {
        let (status, _, _) = owner
            .post(
                &format!("/dashboard/tenants/{name}/{path}"),
                &[("csrf", "forged"), field],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} with a forged token");
    }

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
    let (status, _) = other.page(&format!("/dashboard/tenants/{name}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the detail page");
    let (status, _) = other
        .page(&format!("/dashboard/tenants/{name}/delete"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the delete confirmation");
    let version = before.metadata.resource_version.clone().unwrap();
    let (status, _, _) = other
        .post(
            &format!("/dashboard/tenants/{name}/env"),
            &[
                ("resource_version", &version),
                ("env-0-name", "STOLEN"),
                ("env-0-value", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the env form");
    let (status, _, _) = other
        .post(
            &format!("/dashboard/tenants/{name}/delete"),
            &[("confirm_name", &name)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the delete form");
    let api = other
        .http
        .get(format!("{base}/api/v1/tenants/{name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND, "the API says the same");

    let after = world.get(&name).await.unwrap();
    assert!(after.metadata.deletion_timestamp.is_none(), "not deleted");
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

/// The search and the status filter narrow the overview, with JavaScript as typed and
/// without it through the GET form; each running card shows CPU and memory now.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_and_status_filter_narrow_the_overview_which_shows_usage_now() {
    let world = World::start("dash-filter").await;
    let base = world.serve_api().await;
    let email = format!("{}@example.org", world.name("owner"));
    let user = register_user(&world, &email).await;
    let alpha = world
        .apply(&owned(&world, "alpha", &user))
        .await
        .metadata
        .name;
    let beta = world
        .apply(&owned(&world, "beta", &user))
        .await
        .metadata
        .name;
    let mut stopped = owned(&world, "gamma", &user);
    stopped.spec.state = DesiredState::Stopped;
    let gamma = world.apply(&stopped).await.metadata.name;
    world.wait_ready(&alpha).await;
    world.wait_ready(&beta).await;
    world.wait_phase(&gamma, Phase::Stopped).await;
    let _sampler = start_sampler(&world, Duration::from_millis(500));
    wait_samples(&world, &alpha, 2).await;
    wait_samples(&world, &beta, 2).await;

    let browser = Browser::start("dashboard-filter").await;
    browser.log_in(&base, &email, PASSWORD).await;
    assert_eq!(
        shown_cards(&browser).await,
        [alpha.as_str(), beta.as_str(), gamma.as_str()]
    );
    assert_eq!(
        browser.text("#tenant-count").await,
        "Showing 3 of 3 study servers"
    );
    let memory = browser
        .text(&format!("#tenant-{alpha} .usage-memory"))
        .await;
    assert!(memory.contains("MiB of 96 MiB"), "memory now: {memory}");
    let cpu = browser.text(&format!("#tenant-{alpha} .usage-cpu")).await;
    assert!(cpu.ends_with(" %"), "cpu now: {cpu}");
    assert_eq!(
        browser.text(&format!("#tenant-{gamma} .usage-none")).await,
        "—",
        "a stopped tenant has no usage now"
    );
    browser.screenshot("01-overview").await;

    // Filter as you type (JavaScript), on the whole list.
    browser.fill("#q", "BETA").await;
    browser
        .wait_until(
            "the search to narrow the list",
            Duration::from_secs(5),
            "document.querySelectorAll('.tenant-card:not([hidden])').length === 1",
        )
        .await;
    assert_eq!(shown_cards(&browser).await, [beta.as_str()]);
    assert_eq!(
        browser.text("#tenant-count").await,
        "Showing 1 of 3 study servers"
    );
    browser.screenshot("02-search-as-you-type").await;
    browser.fill("#q", "no-such-server").await;
    browser
        .wait_until(
            "the no-match card",
            Duration::from_secs(5),
            "!document.getElementById('no-match').hidden",
        )
        .await;
    assert!(shown_cards(&browser).await.is_empty());

    // The GET form, as without JavaScript: the server decides what is shown.
    browser.fill("#q", &world.prefix).await;
    browser
        .js(
            "const s = document.getElementById('status'); s.value = 'stopped'; \
             s.dispatchEvent(new Event('change'));",
        )
        .await;
    assert_eq!(shown_cards(&browser).await, [gamma.as_str()], "as typed");
    browser.click("#filter-apply").await;
    browser
        .wait_until(
            "the filtered page",
            Duration::from_secs(5),
            "location.search.includes('status=stopped')",
        )
        .await;
    assert_eq!(
        shown_cards(&browser).await,
        [gamma.as_str()],
        "from the server"
    );
    assert_eq!(
        browser.text("#tenant-count").await,
        "Showing 1 of 3 study servers"
    );
    assert_eq!(
        browser
            .js("return document.getElementById('status').value;")
            .await,
        Value::from("stopped"),
        "the form shows the filter in force"
    );
    browser.screenshot("03-filtered-by-status").await;
    browser
        .goto(&format!("{base}/dashboard?q=alpha&status=ready"))
        .await;
    assert_eq!(shown_cards(&browser).await, [alpha.as_str()]);
    browser
        .goto(&format!("{base}/dashboard?status=degraded"))
        .await;
    assert!(shown_cards(&browser).await.is_empty());
    assert!(
        browser
            .text("#no-match")
            .await
            .contains("No study servers match")
    );

    narrow_viewport(&browser).await;
    browser.goto(&format!("{base}/dashboard")).await;
    browser.screenshot_full_page("04-overview-360px").await;
    browser.assert_no_sideways_scroll().await;
    browser.quit().await;
    world.cleanup().await;
}

/// Deleting asks for the tenant's name to be typed: a wrong name deletes nothing and says so
/// next to the field; the right one deletes through the API's delete (the BackupThenDelete
/// policy writes a dump first), and the tenant and its container are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_asks_for_the_typed_name_and_then_removes_the_tenant_and_its_container() {
    let world = World::start("dash-delete").await;
    let base = world.serve_api().await;
    let email = format!("{}@example.org", world.name("owner"));
    let user = register_user(&world, &email).await;
    let mut tenant = owned(&world, "doomed", &user);
    tenant.spec.database.deletion_policy = DeletionPolicy::BackupThenDelete;
    let name = world.apply(&tenant).await.metadata.name;
    world.wait_ready(&name).await;
    assert!(world.inspect(&name).await.is_some());

    let browser = Browser::start("dashboard-delete").await;
    browser.log_in(&base, &email, PASSWORD).await;
    browser
        .click(&format!("#tenant-{name} a[aria-label='Delete {name}']"))
        .await;
    browser
        .wait_for_path(&format!("/dashboard/tenants/{name}/delete"))
        .await;
    assert!(browser.text("#data-fate").await.contains("backed up first"));
    browser.screenshot("01-confirmation").await;

    browser.fill("#confirm_name", &name.to_uppercase()).await;
    browser.click("#delete-confirm").await;
    browser
        .wait_until(
            "the refusal",
            Duration::from_secs(5),
            "document.getElementById('confirm_name-error').textContent.length > 0",
        )
        .await;
    assert_eq!(
        browser.text("#confirm_name-error").await,
        format!("that is not the name; type {name} exactly to confirm"),
        "the message is next to the field"
    );
    assert_eq!(
        browser
            .js("return document.getElementById('confirm_name').getAttribute('aria-invalid');")
            .await,
        Value::from("true")
    );
    browser.screenshot("02-wrong-name").await;
    let still = world
        .get(&name)
        .await
        .expect("a wrong name deletes nothing");
    assert!(
        still.metadata.deletion_timestamp.is_none(),
        "not even marked"
    );
    assert!(
        world.inspect(&name).await.is_some(),
        "the container is still there"
    );

    // From the keyboard: Enter in the field submits the form.
    browser.fill("#confirm_name", &name).await;
    browser.press(Key::Enter).await;
    browser.wait_for_path("/dashboard").await;
    assert!(
        browser
            .text("#notice")
            .await
            .starts_with(&format!("{name} is being deleted"))
    );
    world.wait_gone(&name).await;
    assert!(
        world.inspect(&name).await.is_none(),
        "the container is removed"
    );
    let dumps: Vec<_> = std::fs::read_dir(&world.backup_dir)
        .expect("BackupThenDelete wrote to the backup folder")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(
        dumps.len(),
        1,
        "the policy applied: one dump before the drop"
    );
    browser.goto(&format!("{base}/dashboard")).await;
    assert!(browser.text("main").await.contains("No study servers yet"));
    browser.screenshot("03-gone").await;
    browser.quit().await;
    world.cleanup().await;
}

/// The detail page shows the address, the conditions, the events timeline and SVG charts of
/// the sampled CPU and memory, with a text summary; it links to the logs; it fits 360 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_detail_page_shows_conditions_events_and_usage_charts() {
    let world = World::start("dash-detail").await;
    let base = world.serve_api().await;
    let email = format!("{}@example.org", world.name("owner"));
    let user = register_user(&world, &email).await;
    let name = world
        .apply(&owned(&world, "seen", &user))
        .await
        .metadata
        .name;
    world.wait_ready(&name).await;

    let browser = Browser::start("dashboard-detail").await;
    browser.log_in(&base, &email, PASSWORD).await;
    browser
        .goto(&format!("{base}/dashboard/tenants/{name}"))
        .await;
    assert_eq!(
        browser.text(".chart-empty").await,
        "No samples yet.",
        "before the sampler runs"
    );

    let _sampler = start_sampler(&world, Duration::from_millis(500));
    wait_samples(&world, &name, 3).await;
    browser
        .goto(&format!("{base}/dashboard/tenants/{name}"))
        .await;
    assert_eq!(browser.text("#tenant-name").await, name);
    assert_eq!(browser.text("#tenant-phase").await, "Ready");
    assert_eq!(
        browser.text("#tenant-url").await,
        format!("{}://{name}.tenants.test", world.config.public_scheme)
    );
    for condition in ["DatabaseReady", "ContainerReady", "Ready"] {
        let row = browser.text(&format!("#condition-{condition}")).await;
        assert!(row.contains("True"), "{condition}: {row}");
    }
    let events = browser
        .js("return [...document.querySelectorAll('#events .timeline-item')].map(e => e.innerText);")
        .await;
    let events = events.as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.as_str().unwrap().contains("CreateContainer")),
        "the timeline shows the reconciler's steps: {events:?}"
    );
    // Charts: SVG drawn on the server, with a title, a description and at least one point.
    let memory = browser
        .js(
            "const s = document.getElementById('chart-memory'); return s && { \
               title: s.querySelector('title').textContent, \
               desc: s.querySelector('desc').textContent, \
               dots: s.querySelectorAll('circle').length, \
               role: s.getAttribute('role') };",
        )
        .await;
    assert_eq!(memory["role"], "img", "{memory}");
    assert_eq!(memory["title"], "Memory (MiB), last 15 min", "{memory}");
    assert!(
        memory["desc"]
            .as_str()
            .unwrap()
            .contains("samples in the last 15 min"),
        "{memory}"
    );
    assert_eq!(memory["dots"], 1, "{memory}");
    assert!(
        browser
            .js("return !!document.querySelector('#chart-cpu polyline');")
            .await
            == Value::Bool(true),
        "the CPU chart draws a line through its samples"
    );
    let summary = browser.text("#usage .chart-summary").await;
    assert!(summary.starts_with("CPU now "), "{summary}");
    assert!(browser.text("#usage-memory").await.contains("of 96 MiB"));
    assert_eq!(
        browser
            .js("return document.getElementById('logs-link').getAttribute('href');")
            .await,
        Value::from(format!("/dashboard/tenants/{name}/logs"))
    );
    browser.screenshot_full_page("01-detail").await;

    // Live: the charts take new samples in place, without a reload.
    let desc = memory["desc"].as_str().unwrap().to_owned();
    browser.js("window.notReloaded = true;").await;
    browser
        .wait_until(
            "the memory chart to update in place",
            Duration::from_secs(15),
            &format!(
                "window.notReloaded && document.querySelector('#chart-memory desc').textContent !== {}",
                serde_json::to_string(&desc).unwrap()
            ),
        )
        .await;

    narrow_viewport(&browser).await;
    browser
        .goto(&format!("{base}/dashboard/tenants/{name}"))
        .await;
    browser.screenshot_full_page("02-detail-360px").await;
    browser.assert_no_sideways_scroll().await;
    for (section, step) in [
        ("usage", "03-charts-360px"),
        ("conditions", "04-conditions-360px"),
    ] {
        browser
            .js(&format!(
                "document.getElementById('{section}').scrollIntoView();"
            ))
            .await;
        browser.screenshot(step).await;
    }
    browser.quit().await;
    world.cleanup().await;
}

/// Editing the environment in the browser changes the spec, and the reconciler recreates the
/// container with the new variable (and without the removed one); an invalid name is shown
/// next to its row and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn editing_env_in_the_browser_recreates_the_container_with_the_new_variable() {
    let world = World::start("dash-env").await;
    let base = world.serve_api().await;
    let email = format!("{}@example.org", world.name("owner"));
    let user = register_user(&world, &email).await;
    let name = world
        .apply(&owned(&world, "envy", &user))
        .await
        .metadata
        .name;
    world.wait_ready(&name).await;
    let before = world.inspect(&name).await.unwrap().id.unwrap();
    assert!(
        container_env(&world, &name)
            .await
            .contains(&"GREETING=hello".to_owned())
    );

    let browser = Browser::start("dashboard-env").await;
    browser.log_in(&base, &email, PASSWORD).await;
    browser
        .goto(&format!("{base}/dashboard/tenants/{name}"))
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('env-0-name').value;")
            .await,
        Value::from("GREETING")
    );
    // Row 1 is the blank row; "Add another variable" (JavaScript) appends row 2.
    browser.fill("#env-1-name", "NEW_VAR").await;
    browser.fill("#env-1-value", "fresh value").await;
    browser.click("#env-add").await;
    browser.fill("#env-2-name", "SECOND").await;
    browser.fill("#env-2-value", "2").await;
    browser.click("#env-0-remove").await;
    browser.screenshot("01-editing").await;
    browser.click("#env-save").await;
    // The save redirects back to the page it was posted from, so the path alone cannot tell
    // the old page from the new one: wait for the notice that only the answer carries.
    browser
        .wait_until(
            "the saved notice",
            Duration::from_secs(10),
            "document.getElementById('notice')",
        )
        .await;
    browser
        .wait_for_path(&format!("/dashboard/tenants/{name}"))
        .await;
    assert!(
        browser
            .text("#notice")
            .await
            .starts_with("Environment saved")
    );

    let stored = world.get(&name).await.unwrap();
    assert_eq!(
        stored.spec.env,
        std::collections::BTreeMap::from([
            ("NEW_VAR".to_owned(), "fresh value".to_owned()),
            ("SECOND".to_owned(), "2".to_owned()),
        ]),
        "the spec changed as edited"
    );
    world.wait_ready(&name).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let env = container_env(&world, &name).await;
        if env.contains(&"NEW_VAR=fresh value".to_owned()) {
            assert!(!env.iter().any(|e| e.starts_with("GREETING=")), "{env:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the container never got NEW_VAR: {env:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = world.inspect(&name).await.unwrap().id.unwrap();
    assert_ne!(before, after, "the container was recreated");

    // An invalid name: the message is next to its row, and nothing changes.
    let version = world.get(&name).await.unwrap().metadata.resource_version;
    browser
        .goto(&format!("{base}/dashboard/tenants/{name}"))
        .await;
    let blank = browser
        .js("return document.querySelectorAll('#env-rows .env-row[data-index]').length - 1;")
        .await
        .as_u64()
        .unwrap();
    browser
        .fill(&format!("#env-{blank}-name"), "BAD-NAME")
        .await;
    browser.fill(&format!("#env-{blank}-value"), "x").await;
    browser.click("#env-save").await;
    browser
        .wait_until(
            "the row's error",
            Duration::from_secs(5),
            &format!("document.getElementById('env-{blank}-error').textContent.length > 0"),
        )
        .await;
    let error = browser.text(&format!("#env-{blank}-error")).await;
    assert!(error.contains("variable name contains '-'"), "{error}");
    assert_eq!(
        browser
            .js(&format!(
                "return document.getElementById('env-{blank}-name').getAttribute('aria-invalid');"
            ))
            .await,
        Value::from("true")
    );
    assert_eq!(
        browser
            .js(&format!(
                "return document.getElementById('env-{blank}-name').value;"
            ))
            .await,
        Value::from("BAD-NAME"),
        "the posted rows are kept"
    );
    for other in 0..blank {
        assert_eq!(
            browser.text(&format!("#env-{other}-error")).await,
            "",
            "row {other}"
        );
    }
    browser.screenshot_full_page("02-env-error").await;
    let unchanged = world.get(&name).await.unwrap();
    assert_eq!(
        unchanged.metadata.resource_version, version,
        "nothing was written"
    );
    assert_eq!(unchanged.spec.env, stored.spec.env);

    narrow_viewport(&browser).await;
    browser
        .js(&format!(
            "document.getElementById('env-{blank}-name').scrollIntoView();"
        ))
        .await;
    browser.screenshot("03-env-error-360px").await;
    browser.assert_no_sideways_scroll().await;
    browser.quit().await;
    world.cleanup().await;
}

/// Over HTTP: reserved and duplicate names are refused next to their rows, and a form read
/// before someone else's change is refused with a message instead of overwriting it.
#[tokio::test]
async fn env_forms_with_reserved_names_or_a_stale_version_change_nothing() {
    let world = World::without_controller("dash-envhttp").await;
    let base = world.serve_api().await;
    let email = format!("{}@example.org", world.name("owner"));
    let user = register_user(&world, &email).await;
    let name = world
        .apply(&owned(&world, "race", &user))
        .await
        .metadata
        .name;
    let mut owner = Visitor::new(&base);
    owner.log_in(&email, PASSWORD).await;
    let (status, page) = owner.page(&format!("/dashboard/tenants/{name}")).await;
    assert_eq!(status, StatusCode::OK);
    let version = hidden_value(&page, "resource_version").expect("the form carries the version");
    let env_path = format!("/dashboard/tenants/{name}/env");

    let (status, _, page) = owner
        .post(
            &env_path,
            &[
                ("resource_version", &version),
                ("env-0-name", "DATABASE_URL"),
                ("env-0-value", "postgres://elsewhere"),
                ("env-1-name", "TENANTD_MODE"),
                ("env-2-name", "OK"),
                ("env-3-name", "OK"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("OK is already set above"), "{page}");
    let (status, _, page) = owner
        .post(
            &env_path,
            &[
                ("resource_version", &version),
                ("env-0-name", "DATABASE_URL"),
                ("env-1-name", "TENANTD_MODE"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let row_error = |i: usize| {
        let marker = format!(r#"id="env-{i}-error" aria-live="polite">"#);
        let start = page
            .find(&marker)
            .map(|s| s + marker.len())
            .unwrap_or_else(|| panic!("row {i} in {page}"));
        page[start..start + page[start..].find('<').unwrap()].to_owned()
    };
    assert!(row_error(0).contains("set by tenantd"), "{}", row_error(0));
    assert!(
        row_error(1).contains("reserved for tenantd"),
        "{}",
        row_error(1)
    );
    assert_eq!(
        world
            .get(&name)
            .await
            .unwrap()
            .metadata
            .resource_version
            .as_deref(),
        Some(version.as_str()),
        "refused forms write nothing"
    );

    // Someone else changes the tenant; the stale form is refused and overwrites nothing.
    let mut theirs = world.get(&name).await.unwrap();
    theirs.status = None;
    theirs.spec.env.insert("THEIRS".into(), "1".into());
    world.apply(&theirs).await;
    let (status, _, page) = owner
        .post(
            &env_path,
            &[
                ("resource_version", &version),
                ("env-0-name", "MINE"),
                ("env-0-value", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("changed by someone else"), "{page}");
    assert!(
        page.contains(r#"value="THEIRS""#),
        "the form shows the current variables"
    );
    let stored = world.get(&name).await.unwrap();
    assert!(stored.spec.env.contains_key("THEIRS") && !stored.spec.env.contains_key("MINE"));

    // With the fresh version the same edit goes through.
    let fresh = hidden_value(&page, "resource_version").unwrap();
    let (status, location, _) = owner
        .post(
            &env_path,
            &[
                ("resource_version", &fresh),
                ("env-0-name", "MINE"),
                ("env-0-value", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location,
        Some(format!("/dashboard/tenants/{name}?saved=env#environment"))
    );
    assert_eq!(
        world.get(&name).await.unwrap().spec.env,
        std::collections::BTreeMap::from([("MINE".to_owned(), "1".to_owned())])
    );

    // A tenant being deleted keeps its variables, and the page says why.
    let (_, page) = owner.page(&format!("/dashboard/tenants/{name}")).await;
    let current = hidden_value(&page, "resource_version").unwrap();
    assert!(world.ctx.store.request_delete(&name).await.unwrap());
    let (status, _, page) = owner
        .post(
            &env_path,
            &[
                ("resource_version", &current),
                ("env-0-name", "LATE"),
                ("env-0-value", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("is being deleted"), "{page}");
    assert!(
        !world
            .get(&name)
            .await
            .unwrap()
            .spec
            .env
            .contains_key("LATE")
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
