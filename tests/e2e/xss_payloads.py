"""The XSS corpus: payloads that, if they ever ran, would say so.

Every payload that can run script calls ``__xssHit('<id>')`` (a tagged-template call,
without parentheses, in a few of them), which ``INIT_SCRIPT`` installs in every frame
before the page's own scripts: the id lands in ``window.__xss`` of that frame and of the
top frame, and a console error ``XSS-EXECUTED <id>`` reaches Playwright from any frame.
Cross-origin frames (``data:`` documents) report through ``postMessage`` instead.

The offline copilot quotes knowledge-base sentences with Markdown's ``__`` and backticks
stripped, so ``xssHit`` and ``xssHitpNN`` report too.

Markup that would not run by itself (a ``javascript:`` link nobody clicked, a clobbering
``<form id=…>``, a blocked inline handler on a page with a Content-Security-Policy) is
found by ``PROBE_SCRIPT``, which walks the page, its open shadow roots and its frames for
elements and attributes that only a parsed payload can have: an ``id``/``name``/``class``
``xss-pNN``, an event handler or URL that mentions ``__xssHit``, a script, frame, style,
object or SVG that carries the marker. Images point at ``/xss-img/<id>``, so a request
there is also proof that markup was parsed, even where a CSP stopped the handler.
tests/e2e/test_xss.py renders every payload carelessly once, to show each one is caught.

Payloads are single lines of at most 160 characters so each fits a customer's name, an
article title, a help-centre search query and a chat message alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

HIT = "__xssHit"
IMG_PATH = "/xss-img/"


@dataclass(frozen=True)
class Payload:
    id: str
    kind: str
    text: str
    # A made-up word that only this payload's knowledge-base article contains, so a question
    # with it retrieves exactly that article (full-text search matches the exact token).
    topic: str

    @property
    def external_id(self) -> str:
        """The CRM id of the customer whose name is this payload."""
        return f"xss_{self.id}"

    @property
    def email(self) -> str:
        return f"xss.{self.id}@example.test"

    @property
    def slug(self) -> str:
        return f"xss-{self.id}"

    @property
    def question(self) -> str:
        """The customer's message: the payload, then a question only this payload's article answers."""
        return f"{self.text}\nHow do I calibrate the {self.topic} sensor?"

    @property
    def article_body(self) -> str:
        """Markdown: a sentence the bot quotes, then the payload alone on its line.

        Markdown passes a line that opens with a block tag (``<div>``, ``<script>``, ``<iframe>``…)
        through as raw HTML and wraps any other in a paragraph with inline HTML, so the corpus
        covers both. One short section keeps the admin's save to two short passages to embed.
        """
        sentence = f"To calibrate the {self.topic} sensor hold its button for five seconds, marker {self.id}-rendered."
        return f"{sentence}\n\n{self.text}\n"


def _h(pid: str) -> str:
    return f"{HIT}('{pid}')"


def _tt(pid: str) -> str:
    # A tagged template calls the function without parentheses or quotes.
    return f"{HIT}`{pid}`"


def _img(pid: str) -> str:
    return f"{IMG_PATH}{pid}"


TOPICS = [
    "zorblax", "quintaro", "vexmoor", "plindle", "drossec", "tanquil", "morvish", "glentro",
    "brisquo", "fandrel", "yuvesta", "kelpmar", "sornith", "wexalon", "cardump", "ulbrien",
    "nacterm", "pirouxe", "jostavi", "lumbrek", "hadrunt", "ospexil", "trevalm", "gimblor",
    "reskavo", "dunwhil", "ezmorta", "falquin", "bratzel", "mirevoc", "cholvan", "snipwex",
    "obrantu", "velquor", "tashmin", "grudlex", "pemvask",
]  # fmt: skip


def _corpus() -> list[Payload]:
    raw: list[tuple[str, str]] = [
        ("script", f"<script>{_h('p01')}</script>"),
        ("img-onerror", f'<img src={_img("p02")} id=xss-p02 onerror="{_h("p02")}">'),
        ("svg-onload", f'<svg id=xss-p03 onload="{_h("p03")}"><circle r=9></circle></svg>'),
        ("html-javascript-link", f'<a id=xss-p04 href="javascript:{_h("p04")}">open p04</a>'),
        ("markdown-javascript-link", f"[open p05](javascript:{_tt('p05')})"),
        ("markdown-javascript-link-parens", f"[open p06](javascript:{_h('p06')})"),
        ("markdown-image-javascript", f"![p07](javascript:{_tt('p07')}) <javascript:{_tt('p07')}>"),
        ("markdown-raw-html-block", f'<div id=xss-p08 onmouseover="{_h("p08")}">hover p08</div>'),
        ("attribute-breakout-double", f'"><img src={_img("p09")} id=xss-p09 onerror={_tt("p09")}>'),
        ("attribute-breakout-single", f"'><svg id=xss-p10 onload={_tt('p10')}>"),
        ("attribute-event-injection", f'" autofocus onfocus="{_h("p11")}" id="xss-p11'),
        ("template-literal", f'${{{_h("p12")}}} {{{{constructor.constructor("{_h("p12")}")()}}}}'),
        ("json-script-breakout", f"</script><script>{_h('p13')}</script>"),
        ("json-string-breakout", f'"}}]}}</script><img src={_img("p14")} id=xss-p14 onerror={_tt("p14")}>{{"a":"'),
        ("iframe-srcdoc", f'<iframe id=xss-p15 srcdoc="<script>parent.{_h("p15")}</script>"></iframe>'),
        (
            "iframe-srcdoc-entities",
            f'<iframe id=xss-p16 srcdoc="&lt;img src={_img("p16")} onerror=parent.{_tt("p16")}&gt;"></iframe>',
        ),
        (
            "data-url-iframe",
            "<iframe id=xss-p17 src=\"data:text/html,<script>parent.postMessage('xss:p17','*')</script>\"></iframe>",
        ),
        ("data-url-link", "[open p18](data:text/html;base64,PHNjcmlwdD5hbGVydCgncDE4Jyk8L3NjcmlwdD4=)"),
        ("object-data", f'<object id=xss-p19 data="javascript:{_h("p19")}"></object>'),
        (
            "style-expression",
            f"<div id=xss-p20 style=\"background:url('javascript:{_h('p20')}');"
            f'width:expression({_h("p20")})">p20</div>',
        ),
        ("style-tag", f"<style>@import 'javascript:{_tt('p21')}';#xss-p21{{color:red}}</style>"),
        ("entity-encoded", f"&lt;img src={_img('p22')} id=xss-p22 onerror={_tt('p22')}&gt;"),
        ("double-entity-encoded", f"&amp;lt;script&amp;gt;{_h('p23')}&amp;lt;/script&amp;gt;"),
        ("js-unicode-escaped", f"\\u003cimg src={_img('p24')} id=xss-p24 onerror={_tt('p24')}\\u003e"),
        ("fullwidth-brackets", f"\uff1cscript\uff1e{_h('p25')}\uff1c/script\uff1e"),
        ("entity-javascript-href", f'<a id=xss-p26 href="&#106;ava&#x09;script&colon;{_h("p26")}">p26</a>'),
        (
            "mxss-noscript",
            f'<noscript><p title="</noscript><img src={_img("p27")} id=xss-p27 onerror={_tt("p27")}>"></noscript>',
        ),
        ("mxss-svg-style", f"<svg><style><img src={_img('p28')} id=xss-p28 onerror={_tt('p28')}></style></svg>"),
        (
            "mxss-math",
            f"<math><mtext><table><mglyph><style><img src={_img('p29')} id=xss-p29 onerror={_tt('p29')}>",
        ),
        ("dom-clobbering", "<form id=xss-p30 name=config><input name=api value=\"javascript:alert('p30')\"></form>"),
        ("base-href", f'<base id=xss-p31 href="javascript:{_h("p31")}//">'),
        ("meta-refresh", f'<meta id=xss-p32 http-equiv=refresh content="0;url=javascript:{_h("p32")}">'),
        ("mixed-case", f"<IMG SRC={_img('p33')} ID=xss-p33 ONERROR={_tt('p33')}>"),
        ("details-ontoggle", f"<details id=xss-p34 open ontoggle={_tt('p34')}><summary>p34</summary></details>"),
        ("comment-breakout", f"<!--><img src={_img('p35')} id=xss-p35 onerror={_tt('p35')}>-->"),
        (
            "textarea-title-breakout",
            f"</textarea></title></style><svg/onload={_tt('p36')}>",
        ),
        ("template-backtick-breakout", f"`+{_h('p37')}+`"),
    ]
    if len(raw) > len(TOPICS) or len({text for _, text in raw}) != len(raw):
        raise ValueError("every payload needs its own text and topic")
    if any("\n" in text or len(text) > 160 for _, text in raw):
        raise ValueError("payloads are single lines of at most 160 characters")
    return [
        Payload(id=f"p{index:02d}", kind=kind, text=text, topic=TOPICS[index - 1])
        for index, (kind, text) in enumerate(raw, start=1)
    ]


PAYLOADS = _corpus()
BY_ID = {payload.id: payload for payload in PAYLOADS}

# Installed with page.add_init_script: runs in every frame before the page's own scripts.
INIT_SCRIPT = f"""
(() => {{
  if (window.__xss) return;
  const hits = [];
  window.__xss = hits;
  window.{HIT} = function (id) {{
    id = String(id);
    hits.push(id);
    console.error('XSS-EXECUTED ' + id);
    try {{ if (window.top !== window) window.top.{HIT}(id); }} catch (e) {{}}
  }};
  // The bot quotes articles with Markdown emphasis and code marks stripped: __xssHit`p05` becomes xssHitp05.
  window.xssHit = window.{HIT};
  for (const id of {json.dumps([p.id for p in PAYLOADS])}) {{
    Object.defineProperty(window, 'xssHit' + id, {{ get: () => window.{HIT}(id), configurable: true }});
  }}
  window.addEventListener('message', (event) => {{
    if (typeof event.data === 'string' && event.data.startsWith('xss:')) window.{HIT}(event.data.slice(4));
  }});
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (event) => {{
    window.__csp.push([event.violatedDirective, event.blockedURI, event.sample].join(' | '));
  }}, true);
}})();
"""

# Evaluated in each frame: markup that only a parsed payload can have, as
# [where, what, outerHTML excerpt] rows. Text, form-control values, <title> and
# JSON script data are where payloads are expected to appear, so they don't count.
PROBE_SCRIPT = r"""
() => {
  const found = [];
  const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'data', 'xlink:href', 'srcdoc',
                             'background', 'poster', 'content', 'ping', 'codebase', 'cite']);
  const DANGEROUS = new Set(['SCRIPT', 'STYLE', 'IFRAME', 'FRAME', 'OBJECT', 'EMBED', 'BASE', 'META',
                             'NOSCRIPT', 'TEMPLATE', 'svg', 'math', 'IMG', 'LINK', 'MARQUEE']);
  const marker = /xss-p\d\d/;
  const carries = /__xssHit|xss-img|xss-p\d\d|xss:p\d/;
  const excerpt = (el) => el.outerHTML.slice(0, 160);
  function visit(root, where) {
    for (const el of root.querySelectorAll('*')) {
      const tag = '<' + el.tagName.toLowerCase() + '>';
      for (const attr of Array.from(el.attributes)) {
        const name = attr.name.toLowerCase();
        const value = attr.value;
        const squashed = value.replace(/[\u0000-\u0020]+/g, '').toLowerCase();
        if (name.startsWith('on')) {
          if (/xss/i.test(value)) found.push([where, 'event handler ' + name, excerpt(el)]);
        } else if (['id', 'name', 'class', 'for'].includes(name)) {
          if (marker.test(value)) found.push([where, 'payload element ' + tag, excerpt(el)]);
        } else if (URL_ATTRS.has(name) && !(name === 'content' && el.tagName !== 'META')) {
          if (/^(javascript|vbscript):|^data:(?!,$)/.test(squashed) || /__xsshit|xss:p\d/i.test(value)) {
            found.push([where, 'dangerous URL in ' + name, excerpt(el)]);
          }
        }
      }
      const json = el.tagName === 'SCRIPT' && el.type === 'application/json';
      if (DANGEROUS.has(el.tagName) && !json && carries.test(el.outerHTML)) {
        found.push([where, 'payload inside ' + tag, excerpt(el)]);
      }
      if (el.shadowRoot) visit(el.shadowRoot, where + ' >> shadow root of ' + tag);
    }
  }
  visit(document, location.pathname);
  return found;
}
"""


def literal(text: str) -> str:
    """Text as a reader sees it: whitespace collapsed, so a payload compares with a page's innerText."""
    return " ".join(text.split())
