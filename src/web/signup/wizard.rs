//! The wizard's steps and which of them a visitor may see. Pure.
//!
//! # Guarantees
//! - A step is shown only when every step before it is complete ([`Wizard::may_visit`]), so
//!   steps cannot be skipped by typing a URL.
//! - Once the tenant is created (step 5), the earlier steps are closed: the choices they
//!   made are in the tenant now.

use crate::store::signup::SignupRecord;

/// The six steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Account = 1,
    Use = 2,
    Subdomain = 3,
    Terms = 4,
    Deploy = 5,
    Done = 6,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Account,
        Step::Use,
        Step::Subdomain,
        Step::Terms,
        Step::Deploy,
        Step::Done,
    ];

    /// The step's path under `/signup/`.
    pub fn slug(self) -> &'static str {
        match self {
            Step::Account => "account",
            Step::Use => "use",
            Step::Subdomain => "subdomain",
            Step::Terms => "terms",
            Step::Deploy => "deploy",
            Step::Done => "done",
        }
    }

    pub fn path(self) -> String {
        format!("/signup/{}", self.slug())
    }

    /// The stepper's label.
    pub fn label(self) -> &'static str {
        match self {
            Step::Account => "Account",
            Step::Use => "Intended use",
            Step::Subdomain => "Address",
            Step::Terms => "Terms",
            Step::Deploy => "Deployment",
            Step::Done => "Ready",
        }
    }

    pub fn number(self) -> u8 {
        self as u8
    }
}

/// What a wizard session has recorded, as the gating sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wizard {
    /// Step 1 done: the visitor is logged in as the session's user.
    pub account: bool,
    pub intended_use: bool,
    pub subdomain: bool,
    pub terms: bool,
    /// Step 5 started: the tenant exists.
    pub tenant_created: bool,
    /// The tenant is Ready (step 6 may be shown).
    pub tenant_ready: bool,
}

impl Wizard {
    /// The gating view of a stored session, for a visitor logged in as `user` (if anyone).
    pub fn of(record: &SignupRecord, user: Option<uuid::Uuid>, tenant_ready: bool) -> Wizard {
        Wizard {
            account: user.is_some() && record.user_id == user,
            intended_use: record.intended_use.is_some(),
            subdomain: record.subdomain.is_some(),
            terms: record.terms_accepted_at.is_some(),
            tenant_created: record.tenant_name.is_some(),
            tenant_ready,
        }
    }

    /// The first step not yet complete: where the visitor continues.
    pub fn current(&self) -> Step {
        if self.tenant_created {
            return if self.tenant_ready && self.account {
                Step::Done
            } else if self.account {
                Step::Deploy
            } else {
                Step::Account
            };
        }
        let done = [self.account, self.intended_use, self.subdomain, self.terms];
        Step::ALL
            .into_iter()
            .zip(done)
            .find(|(_, done)| !done)
            .map_or(Step::Deploy, |(step, _)| step)
    }

    /// Whether `step` may be shown: every step before it is complete, and (once the tenant
    /// exists) it is one of the last two.
    pub fn may_visit(&self, step: Step) -> bool {
        let current = self.current();
        if self.tenant_created && self.account {
            return step == Step::Deploy || step <= current && step == Step::Done;
        }
        step <= current
    }

    /// Where to send a visitor who asked for `step`: `None` to show it, else the step to go to.
    pub fn redirect_for(&self, step: Step) -> Option<Step> {
        (!self.may_visit(step)).then(|| self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wizard(steps_done: usize) -> Wizard {
        Wizard {
            account: steps_done >= 1,
            intended_use: steps_done >= 2,
            subdomain: steps_done >= 3,
            terms: steps_done >= 4,
            tenant_created: steps_done >= 5,
            tenant_ready: steps_done >= 6,
        }
    }

    #[test]
    fn the_current_step_is_the_first_incomplete_one() {
        let expected = [
            Step::Account,
            Step::Use,
            Step::Subdomain,
            Step::Terms,
            Step::Deploy,
            Step::Deploy,
            Step::Done,
        ];
        for (done, step) in expected.into_iter().enumerate() {
            assert_eq!(wizard(done).current(), step, "{done} steps done");
        }
    }

    #[test]
    fn later_steps_cannot_be_skipped_to() {
        for done in 0..4 {
            let w = wizard(done);
            for step in Step::ALL {
                let allowed = step.number() as usize <= done + 1;
                assert_eq!(w.may_visit(step), allowed, "{done} done, {step:?}");
                if !allowed {
                    assert_eq!(w.redirect_for(step), Some(w.current()));
                }
            }
        }
    }

    #[test]
    fn a_step_done_out_of_order_does_not_open_the_ones_after_a_gap() {
        // Terms recorded but no subdomain (the subdomain was lost in a race): back to step 3.
        let w = Wizard {
            account: true,
            intended_use: true,
            subdomain: false,
            terms: true,
            ..Wizard::default()
        };
        assert_eq!(w.current(), Step::Subdomain);
        assert!(!w.may_visit(Step::Deploy));
    }

    #[test]
    fn once_the_tenant_exists_only_the_last_two_steps_are_shown() {
        let deploying = wizard(5);
        for step in Step::ALL {
            assert_eq!(
                deploying.may_visit(step),
                step == Step::Deploy,
                "deploying: {step:?}"
            );
        }
        let ready = wizard(6);
        assert!(ready.may_visit(Step::Deploy) && ready.may_visit(Step::Done));
        assert!(!ready.may_visit(Step::Terms));
        assert_eq!(ready.redirect_for(Step::Account), Some(Step::Done));
    }

    #[test]
    fn a_logged_out_visitor_must_log_in_again_first() {
        let w = Wizard {
            account: false,
            ..wizard(5)
        };
        assert_eq!(w.current(), Step::Account);
        assert!(!w.may_visit(Step::Deploy));
    }

    #[test]
    fn steps_have_paths_labels_and_numbers() {
        assert_eq!(Step::Subdomain.path(), "/signup/subdomain");
        assert_eq!(Step::Done.number(), 6);
        assert_eq!(Step::Use.label(), "Intended use");
    }
}
