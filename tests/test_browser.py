"""The neuron page in a real headless Chromium: loads cleanly, stays lazy on a long text, answers the pointer.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make test`` installs them where
it can) and the ``selenium`` package; skips with the reason where any is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from rnnkit.cli import main

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no Chromium here: apt-get install -y chromium "
                                "chromium-driver")
# flags for a closed network: no background connections that would fail and log errors
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,900"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(condition, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError("the page did not get there in time")
        time.sleep(0.05)
    return value


def test_a_long_text_loads_lazily_and_hovering_shows_five_predictions(browser, tiny_lm_run, shakespeare_slice,
                                                                      tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    text = tmp_path / "long.txt"
    text.write_text(shakespeare_slice.read_text(encoding="utf-8") * 2, encoding="utf-8")  # 120,000 characters
    out = tmp_path / "neurons.html"
    assert main(["viz", str(tiny_lm_run), str(text), "--out", str(out), "--max-chars", "120000",
                 "--no-progress"]) == 0
    data = json.loads(re.search(r'id="rnnkit-data">(.*?)</script>', out.read_text(encoding="utf-8"), re.S).group(1))
    steps = len(data["pieces"])
    assert steps == 120_000

    browser.get(out.as_uri())
    spans = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#text span[data-i]"))
    assert len(spans) < 10_000  # drawn by blocks near the screen, not all 120,000

    ActionChains(browser).move_to_element(spans[120]).perform()
    items = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#predictions li"))
    assert len(items) == 5
    probabilities = [float(item.text.rsplit(" ", 1)[1]) for item in items]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.001
    assert "token 121 of 120000" in browser.find_element(By.ID, "where").text

    # a finder link selects its neuron; choosing another recolours what is drawn
    first = data["initial"]
    link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "table a[href^='#']") if a.text != first)
    neuron = link.text
    link.click()
    wait_for(lambda: browser.find_element(By.ID, "scale").text.startswith(neuron))
    assert data["neurons"][int(browser.find_element(By.ID, "neuron").get_attribute("value"))] == neuron
    drawn = browser.find_elements(By.CSS_SELECTOR, "#text span[data-i]")[:300]
    colours = [s.value_of_css_property("background-color") for s in drawn]
    browser.execute_script("location.hash = arguments[0]", first)
    wait_for(lambda: browser.find_element(By.ID, "scale").text.startswith(first))
    assert [s.value_of_css_property("background-color") for s in drawn] != colours

    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f'span[data-i="{steps - 1}"]'))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#text span[data-i]")) < 10_000
    assert not browser.find_elements(By.CSS_SELECTOR, 'span[data-i="0"]')  # the top was put away

    shot = tmp_path / "page.png"
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors


def test_the_playground_streams_colours_translates_classifies_and_forecasts(browser, live, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(f"{live}/?model=lm")
    wait_for(lambda: browser.find_element(By.ID, "about").text.startswith("lm,"))
    browser.execute_script("""window.lengths = [];
        new MutationObserver(() => lengths.push(document.getElementById('text').textContent.length))
          .observe(document.getElementById('text'), {childList: true, characterData: true, subtree: true});""")
    browser.find_element(By.ID, "prime").send_keys("ROMEO:")
    browser.execute_script("document.getElementById('length').value = 1500")
    browser.find_element(By.ID, "generate").click()
    spans = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#text span[data-index]"), 60)
    grown = browser.execute_script("return window.lengths")
    assert len(set(grown)) > 5 and max(grown) >= 1500  # it arrived piece by piece, then was coloured
    assert browser.find_element(By.ID, "text").text.startswith("ROMEO:")
    ActionChains(browser).move_to_element(spans[40]).perform()
    tip = wait_for(lambda: browser.find_element(By.ID, "tip").text)
    assert len(tip.splitlines()) == 6 and "bits" in tip.splitlines()[0]  # the token, then five predictions

    Select(browser.find_element(By.ID, "model")).select_by_value("translate")
    browser.find_element(By.ID, "source").send_keys("1 2 3 4")
    browser.find_element(By.ID, "translate").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#nbest li"))
    assert int(wait_for(lambda: browser.find_element(By.ID, "heatmap").get_attribute("data-cells"))) >= 4

    Select(browser.find_element(By.ID, "model")).select_by_value("classify")
    browser.find_element(By.ID, "texts").send_keys("Kakitomi\nIvanovsky")
    browser.find_element(By.ID, "classify").click()
    assert len(wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#bars .bar"))) == 4

    Select(browser.find_element(By.ID, "model")).select_by_value("forecast")
    browser.find_element(By.ID, "forecast").click()
    drawn = """const c = document.getElementById('series');
        return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 == 3 && v > 0);"""
    wait_for(lambda: browser.execute_script(drawn))

    assert not browser.find_element(By.ID, "error").is_displayed()
    shot = tmp_path / "playground.png"
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
