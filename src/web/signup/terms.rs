//! The terms of service shown in step 4. Plain text, one entry per paragraph; an entry
//! starting with `## ` is a heading.

pub const TERMS: &[&str] = &[
    "## 1. What we provide",
    "We run a copy of Network Canvas Fresco for you at the address you chose, with its own \
     database. We keep it running, apply updates, and watch over it day and night; when it \
     stops, we start it again.",
    "## 2. Your study data",
    "The interviews, protocols and participant data in your server are yours. They are kept \
     in a database of your own, separate from every other customer's, and we do not look at \
     them except when you ask us to help you with a problem.",
    "## 3. Your responsibilities",
    "You are responsible for having your study approved by the ethics board that oversees \
     it, for obtaining your participants' informed consent, and for the protocols you \
     upload. Do not use the service for anything unlawful.",
    "## 4. Accounts",
    "Keep your password to yourself. You can change it at any time in your settings. Tell \
     us right away if you think someone else used your account.",
    "## 5. Availability",
    "We aim for your server to be available at all times, but maintenance and failures can \
     interrupt it. Export your interview data from Fresco regularly.",
    "## 6. Ending the service",
    "You can delete your server from your dashboard, after typing its name to confirm. \
     Deleting it first saves a backup of its database on our side, then removes the \
     database and the server.",
    "## 7. Changes to these terms",
    "We will tell you by email at least 30 days before these terms change. If you do not \
     agree with a change, you can delete your server before it takes effect.",
];
