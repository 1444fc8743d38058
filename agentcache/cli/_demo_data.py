"""Question/answer pairs for ``agentcache demo``: two tenants with their own support FAQs."""

from __future__ import annotations

BANK = "acme-bank"
CLOUD = "nimbus-cloud"

FAQ: dict[str, list[tuple[str, str]]] = {
    BANK: [
        ("How do I reset my online banking password?",
         "Choose 'Forgot password' on the sign-in page and follow the link we email you."),
        ("What is the daily ATM withdrawal limit?", "You can withdraw up to $500 per day."),
        ("How long does an international transfer take?",
         "International transfers arrive in 1 to 3 business days."),
        ("How do I report a lost or stolen card?",
         "Freeze the card in the app, then call 1-800-555-0100 to order a new one."),
        ("Are there fees for using another bank's ATM?",
         "We refund up to four out-of-network ATM fees per month."),
        ("How can I order a new checkbook?", "Order checks under Accounts > Services in the app."),
        ("What is the interest rate on the savings account?",
         "Our savings account pays 3.1% APY, variable."),
        ("How do I set up direct deposit?",
         "Give your employer the routing and account numbers shown under Account details."),
        ("Can I open a joint account online?",
         "Yes: both applicants sign up in the app and verify their identity."),
        ("Why was my card declined?",
         "Common causes: insufficient funds, a frozen card, or a fraud hold. Check the app."),
        ("How do I dispute a transaction?",
         "Open the transaction in the app and tap 'Dispute'; we reply within 10 days."),
        ("What are your customer service hours?", "Phone support is open 24/7."),
        ("How do I activate my new debit card?",
         "Activate it in the app under Cards, or at any of our ATMs with your PIN."),
        ("Is there a monthly maintenance fee?",
         "No fee when you keep $1,500 or receive a direct deposit each month."),
    ],
    CLOUD: [
        ("How do I reset my password?",
         "Use 'Forgot password' on the console login page; the link is valid for 1 hour."),
        ("How do I increase my storage quota?",
         "Request a quota increase under Billing > Quotas; most are approved instantly."),
        ("Which regions do you support?", "Frankfurt, Virginia, Oregon, Singapore and Sydney."),
        ("How do I add a custom domain to my app?",
         "Add a CNAME record pointing to your app's hostname, then verify it in the console."),
        ("How are bandwidth overages billed?", "Egress beyond your plan costs $0.05 per GB."),
        ("How can I roll back a deployment?",
         "Run `nimbus deploy rollback` or pick an earlier release in the console."),
        ("Do you offer a free tier?", "Yes: 2 vCPU hours a day and 5 GB of storage, free."),
        ("How do I enable two-factor authentication?",
         "Turn it on under Account > Security and scan the QR code with your authenticator."),
        ("How do I export my database backups?",
         "Backups can be downloaded from Databases > Backups, or copied to your own bucket."),
        ("What is your uptime SLA?", "99.95% monthly uptime on paid plans, with service credits."),
        ("How do I rotate an API key?",
         "Create a new key under Settings > API keys, deploy it, then revoke the old one."),
        ("Can I run GPU workloads?", "Yes, A100 and L4 instances are available in Virginia."),
        ("How do I invite a teammate to my project?",
         "Open Project > Members and send an invitation by email."),
        ("How do I delete my account?",
         "Under Account > Danger zone; resources are deleted after a 7-day grace period."),
    ],
}  # fmt: skip

# (tenant, question, what it is): close paraphrases hit; loose ones fall below the
# threshold (a miss is cheaper than a wrong answer); hard negatives that differ by
# one word are refused by the guards; unrelated and other tenants' questions miss.
QUERIES: list[tuple[str, str, str]] = [
    (BANK, "How do I reset my online banking password?", "exact repeat"),
    (BANK, "What's the daily ATM withdrawal limit?", "paraphrase"),
    (BANK, "What is the ATM withdrawal limit per day?", "paraphrase"),
    (BANK, "How long do international transfers take?", "paraphrase"),
    (BANK, "How can I set up a direct deposit?", "paraphrase"),
    (BANK, "My card was stolen, how do I report it?", "loose paraphrase"),
    (BANK, "What is the weekly ATM withdrawal limit?", "hard negative (weekly)"),
    (BANK, "Do you have a branch in Toronto?", "unrelated"),
    (CLOUD, "How do I reset my password?", "exact repeat"),
    (CLOUD, "How can I increase my storage quota?", "paraphrase"),
    (CLOUD, "How do I roll back a deployment?", "paraphrase"),
    (CLOUD, "What regions do you support?", "paraphrase"),
    (CLOUD, "How do I turn on 2FA for my account?", "loose paraphrase"),
    (CLOUD, "How do I disable two-factor authentication?", "hard negative (disable)"),
    (CLOUD, "Do you support Kubernetes autoscaling?", "unrelated"),
    (CLOUD, "What is the daily ATM withdrawal limit?", "other tenant's question"),
    (BANK, "How do I rotate an API key?", "other tenant's question"),
]
