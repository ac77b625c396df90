"""The Chromium set-up shared by the browser tests and the screenshot script."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def wait_until_answerable(page):
    """The trial's stimuli are drawn and the page's script takes the answer.

    Not the options being enabled: they are enabled in the HTML, and a click that lands between
    that and the script disabling them until the stimuli are drawn is lost."""
    page.locator("#trial-form[data-ready]").wait_for()
