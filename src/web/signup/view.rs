//! The wizard's page templates: one per step, all in `signup_layout.html` (stepper and card).

use askama::Template;
use askama_web::WebTemplate;

use super::progress::Progress;
use super::subdomain::Verdict;
use super::wizard::{Step, Wizard};
use crate::web::chrome::Chrome;

/// One entry of the stepper.
#[derive(Debug, Clone)]
pub struct StepView {
    pub label: &'static str,
    /// `done`, `current` or `todo`.
    pub state: &'static str,
    /// Words for screen readers ("completed", "current step", "not started").
    pub state_words: &'static str,
    /// A link back, for completed steps that may still be changed.
    pub href: Option<String>,
}

/// The stepper for a visitor at `shown`, given what the wizard recorded.
pub fn stepper(wizard: &Wizard, shown: Step) -> Vec<StepView> {
    let current = wizard.current();
    Step::ALL
        .into_iter()
        .map(|step| {
            let (state, state_words) = if step == shown {
                ("current", "current step")
            } else if step < current || (step == Step::Deploy && shown == Step::Done) {
                ("done", "completed")
            } else {
                ("todo", "not started")
            };
            StepView {
                label: step.label(),
                state,
                state_words,
                href: (state == "done" && wizard.may_visit(step)).then(|| step.path()),
            }
        })
        .collect()
}

/// What every step page has besides the chrome.
#[derive(Debug, Clone)]
pub struct Frame {
    pub stepper: Vec<StepView>,
    pub number: u8,
    /// The CSRF token for the step's form.
    pub csrf: String,
}

impl Frame {
    pub fn new(wizard: &Wizard, step: Step, csrf: String) -> Frame {
        Frame {
            stepper: stepper(wizard, step),
            number: step.number(),
            csrf,
        }
    }
}

/// Step 1.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "signup_account.html")]
pub struct AccountPage {
    pub frame: Frame,
    pub chrome: Chrome,
    /// Already logged in: continue as this email instead of filling the form.
    pub logged_in_as: Option<String>,
    pub email: String,
    pub form_error: Option<String>,
    pub email_error: Option<String>,
    pub password_error: Option<String>,
    pub confirm_error: Option<String>,
    /// The email is taken: offer to log in (and come back here).
    pub offer_login: bool,
}

/// Step 2.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "signup_use.html")]
pub struct UsePage {
    pub frame: Frame,
    pub chrome: Chrome,
    pub choice: String,
    pub other: String,
    pub choice_error: Option<String>,
    pub other_error: Option<String>,
    /// Testing or learning was chosen: suggest the sandbox (the form then says "continue
    /// anyway").
    pub suggest_sandbox: bool,
    pub sandbox_url: String,
}

impl UsePage {
    pub fn is_choice(&self, value: &str) -> bool {
        self.choice == value
    }
}

/// The choices of step 2: value and label.
pub const USES: [(&str, &str, &str); 4] = [
    (
        "study",
        "Conducting a study",
        "Collect interviews from participants.",
    ),
    (
        "testing",
        "Testing features",
        "Try out Fresco before planning a study.",
    ),
    (
        "learning",
        "Learning the platform",
        "Get to know Network Canvas and Fresco.",
    ),
    ("other", "Something else", "Tell us in a few words."),
];

/// Step 3.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "signup_subdomain.html")]
pub struct SubdomainPage {
    pub frame: Frame,
    pub chrome: Chrome,
    pub value: String,
    /// The verdict on `value`, after a submit (or a lost race).
    pub verdict: Option<Verdict>,
    pub scheme: String,
    pub base_domain: String,
}

impl SubdomainPage {
    pub fn error(&self) -> Option<&str> {
        self.verdict
            .as_ref()
            .filter(|v| !v.available())
            .map(|v| v.message.as_str())
    }

    pub fn suggestions(&self) -> &[String] {
        self.verdict.as_ref().map_or(&[], |v| &v.suggestions)
    }
}

/// Step 4.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "signup_terms.html")]
pub struct TermsPage {
    pub frame: Frame,
    pub chrome: Chrome,
    pub error: Option<String>,
    /// The terms, one paragraph each (the first line of a paragraph may be a `## ` heading).
    pub terms: &'static [&'static str],
}

/// Step 5, before and after the tenant is created.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "signup_deploy.html")]
pub struct DeployPage {
    pub frame: Frame,
    pub chrome: Chrome,
    pub subdomain: String,
    pub url: String,
    pub intended_use: String,
    /// Set once the tenant exists.
    pub progress: Option<Progress>,
    pub eta: Option<String>,
    pub form_error: Option<String>,
}

/// Step 6.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "signup_done.html")]
pub struct DonePage {
    pub frame: Frame,
    pub chrome: Chrome,
    pub name: String,
    pub url: String,
}

/// A wizard that expired or lost its session, with a way to start again.
#[derive(Debug, Template, WebTemplate)]
#[template(path = "signup_expired.html")]
pub struct ExpiredPage {
    pub chrome: Chrome,
}
