/* The copilot panel: the customer's CRM card and the copilot's reading of the conversation. */

import { SENTIMENTS } from "./config.js";
import { $, el, safeUrl, isObj, str, list, first, humanize, avatar, fullTime } from "./dom.js";
import { copilotOf } from "./state.js";
import { tierBadge, priorityBadge, sentimentChip } from "./badges.js";
import { fillComposer } from "./composer.js";

function card(title, children, opts) {
  opts = opts || {};
  var body = [].concat(children).filter(Boolean);
  if (!body.length && !opts.always) return null;
  return el("section", { class: "card" + (opts.cls ? " " + opts.cls : "") }, el("h3", { class: "card-title" }, title, opts.aside || null), body);
}

function kv(label, value) {
  if (value === null || value === undefined || value === "") return null;
  return el("div", { class: "kv" }, el("dt", null, label), el("dd", null, value));
}

function confidenceOf(value) {
  var n = typeof value === "number" ? value : parseFloat(value);
  if (isNaN(n)) return null;
  return n > 1 ? n / 100 : n;
}

export function renderCopilot(d) {
  var cp = copilotOf(d);
  var body = $("copilot-body");
  var sections = [];

  sections.push(renderCustomerCard(d));

  var summaryText = str(first(cp.summary, isObj(cp.memory) ? cp.memory.summary : undefined, d.summary, isObj(d.memory) ? d.memory.summary : undefined));
  sections.push(card("Summary", summaryText ? el("p", { class: "summary" }, summaryText) : null));

  // Intent and sentiment.
  var intentObj = isObj(cp.intent) ? cp.intent : isObj(d.intent) ? d.intent : {};
  var intent = str(first(intentObj.name, intentObj.intent, typeof cp.intent === "string" ? cp.intent : undefined, typeof d.intent === "string" ? d.intent : undefined));
  var confidence = confidenceOf(first(intentObj.confidence, cp.intent_confidence, d.intent_confidence));
  var sentimentObj = isObj(cp.sentiment) ? cp.sentiment : isObj(d.sentiment) ? d.sentiment : {};
  var sentiment = str(first(sentimentObj.current, sentimentObj.label, typeof cp.sentiment === "string" ? cp.sentiment : undefined, typeof d.sentiment === "string" ? d.sentiment : undefined));
  var trajectory = list(
    first(
      cp.sentiment_trajectory,
      cp.sentiments,
      sentimentObj.trajectory,
      isObj(cp.memory) ? cp.memory.sentiment_trajectory : undefined,
      d.sentiment_trajectory,
      isObj(d.memory) ? d.memory.sentiment_trajectory : undefined,
    ),
  );
  var urgency = str(first(cp.urgency, sentimentObj.urgency, d.urgency));
  var reading = [];
  if (intent) {
    reading.push(
      el(
        "div",
        { class: "intent-row" },
        el("span", { class: "chip intent chip-lg" }, humanize(intent)),
        confidence !== null
          ? el(
              "span",
              { class: "confidence", title: "Intent confidence" },
              el("span", { class: "meter", role: "img", "aria-label": Math.round(confidence * 100) + "% confidence" }, el("span", { class: "meter-fill", style: "width:" + Math.round(Math.max(0, Math.min(1, confidence)) * 100) + "%" })),
              Math.round(confidence * 100) + "%",
            )
          : null,
      ),
    );
  }
  if (sentiment || trajectory.length || urgency) {
    reading.push(
      el(
        "div",
        { class: "sentiment-row" },
        el("span", { class: "kv-label" }, "Sentiment"),
        sentimentChip(sentiment),
        urgency ? el("span", { class: "chip urgency urgency-" + urgency }, humanize(urgency) + " urgency") : null,
      ),
    );
    if (trajectory.length) reading.push(renderTrajectory(trajectory));
  }
  var qa = typeof cp.qa_score === "number" ? cp.qa_score : null;
  if (qa !== null || cp.flagged) {
    var qaReasons = list(cp.qa_reasons).map(str).filter(Boolean);
    reading.push(
      el(
        "div",
        { class: "qa-row" + (cp.flagged ? " is-flagged" : "") },
        el("span", { class: "kv-label" }, "Answer quality"),
        qa !== null ? el("strong", null, (Math.round(qa * 10) / 10) + "/10") : null,
        cp.flagged ? el("span", { class: "chip reason" }, "Flagged for review") : null,
      ),
      cp.flagged && qaReasons.length ? el("p", { class: "muted small qa-reasons" }, qaReasons.join("; ")) : null,
    );
  }
  sections.push(card("Intent & sentiment", reading));

  // Escalation.
  var ticket = isObj(d.ticket) ? d.ticket : null;
  var reasons = list(first(cp.escalation_reasons, d.escalation_reasons, ticket && ticket.reasons));
  var esc = [];
  if (reasons.length) {
    esc.push(
      el(
        "ul",
        { class: "reasons" },
        reasons.map(function (r) {
          var text = isObj(r) ? first(r.label, r.text, r.reason, r.code) : r;
          return el("li", { class: "chip reason" }, humanize(str(text)));
        }),
      ),
    );
  }
  if (ticket && ticket.reason && !reasons.length) esc.push(el("p", { class: "muted small" }, str(ticket.reason)));
  if (ticket) {
    esc.push(
      el(
        "dl",
        { class: "kvs" },
        kv("Ticket", str(first(ticket.reference, ticket.id))),
        kv("Priority", ticket.priority ? priorityBadge(ticket.priority) : null),
        kv("Status", humanize(ticket.status)),
        kv("SLA due", ticket.sla_due_at ? fullTime(ticket.sla_due_at) : null),
      ),
    );
  }
  sections.push(card("Escalation", esc, { cls: reasons.length ? "card-alert" : "" }));

  // Follow-up plan.
  var plan = first(cp.follow_up, cp.follow_up_plan, d.follow_up, d.follow_up_plan);
  var steps = list(isObj(plan) ? first(plan.steps, plan.actions) : plan).map(function (s) {
    return str(isObj(s) ? first(s.text, s.step, s.title) : s);
  }).filter(Boolean);
  sections.push(
    card(
      "Next steps",
      steps.length
        ? el(
            "ol",
            { class: "steps" },
            steps.map(function (s) {
              return el("li", null, s);
            }),
          )
        : null,
    ),
  );

  // Suggested replies.
  var suggestions = list(first(cp.suggested_replies, d.suggested_replies)).map(function (s) {
    return str(isObj(s) ? first(s.text, s.reply) : s);
  }).filter(Boolean);
  sections.push(
    card(
      "Suggested replies",
      suggestions.length
        ? el(
            "ul",
            { class: "suggestions" },
            suggestions.map(function (s) {
              return el(
                "li",
                null,
                el(
                  "button",
                  {
                    type: "button",
                    class: "suggestion",
                    title: "Put this reply in the composer to edit it",
                    onclick: function () {
                      fillComposer(s);
                    },
                  },
                  el("span", { class: "suggestion-text" }, s),
                  el("span", { class: "suggestion-use" }, "Use"),
                ),
              );
            }),
          )
        : null,
    ),
  );

  // Cited articles.
  var citations = list(first(cp.citations, cp.articles, cp.cited_articles, d.citations, d.cited_articles));
  var seen = new Set();
  var links = citations
    .filter(isObj)
    .filter(function (c) {
      var key = str(first(c.url, c.title));
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .map(function (c) {
      var href = safeUrl(str(first(c.url, c.href)));
      var title = str(first(c.title, c.url)) || "Article";
      return el("li", null, href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, title) : title);
    });
  sections.push(card("Cited articles", links.length ? el("ul", { class: "links" }, links) : null));

  // Entities.
  sections.push(card("Entities", renderEntities(first(cp.entities, d.entities))));

  var nonEmpty = sections.filter(Boolean);
  if (nonEmpty.length <= 1) {
    nonEmpty.push(el("p", { class: "muted small" }, "The copilot has not analysed this conversation yet."));
  }
  body.replaceChildren.apply(body, nonEmpty);
}

function renderTrajectory(points) {
  var items = points
    .map(function (p) {
      return isObj(p) ? p : { sentiment: p };
    })
    .filter(function (p) {
      return str(p.sentiment);
    });
  if (!items.length) return null;
  var labels = items.map(function (p) {
    return humanize(p.sentiment);
  });
  return el(
    "div",
    { class: "trajectory", role: "img", "aria-label": "Sentiment over the conversation: " + labels.join(", ") },
    el("span", { class: "trajectory-label", "aria-hidden": "true" }, "Trend"),
    el(
      "span",
      { class: "trajectory-dots", "aria-hidden": "true" },
      items.map(function (p, i) {
        var level = SENTIMENTS.indexOf(str(p.sentiment));
        return el("span", {
          class: "tdot sentiment-" + str(p.sentiment),
          title: (i + 1) + ". " + labels[i] + (p.score !== undefined ? " (" + p.score + ")" : ""),
          style: "--lvl:" + (level < 0 ? 1 : level),
        });
      }),
    ),
  );
}

function renderEntities(entities) {
  if (!isObj(entities)) return null;
  var groups = [];
  Object.keys(entities).forEach(function (key) {
    var values = entities[key];
    if (!Array.isArray(values)) values = values === null || values === undefined || values === "" ? [] : [values];
    var texts = values
      .map(function (v) {
        if (isObj(v)) return str(first(v.text, v.value, v.name));
        return str(v);
      })
      .filter(Boolean);
    if (!texts.length) return;
    groups.push(
      el(
        "div",
        { class: "kv" },
        el("dt", null, humanize(key)),
        el(
          "dd",
          { class: "chips" },
          texts.map(function (t) {
            return el("span", { class: "chip entity" }, t);
          }),
        ),
      ),
    );
  });
  return groups.length ? el("dl", { class: "kvs" }, groups) : null;
}

function money(value, currency) {
  var n = parseFloat(value);
  if (isNaN(n)) return str(value);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "EUR" }).format(n);
  } catch (e) {
    return n.toFixed(2) + (currency ? " " + currency : "");
  }
}

function renderCustomerCard(d) {
  var c = first(isObj(d.customer_card) ? d.customer_card : undefined, isObj(d.crm) ? d.crm : undefined, isObj(d.customer) ? d.customer : undefined);
  if (!isObj(c)) {
    return card("Customer", [el("p", { class: "muted small" }, "Anonymous visitor: not signed in, so no CRM record and no account or order tools.")], { cls: "card-customer" });
  }
  var base = isObj(d.customer) ? d.customer : {};
  var name = str(first(c.name, base.name)) || "Customer";
  var account = isObj(c.account) ? c.account : isObj(base.account) ? base.account : null;
  var orders = list(first(c.recent_orders, c.orders, base.recent_orders, base.orders, d.recent_orders, d.orders));
  var tickets = list(first(c.open_tickets, base.open_tickets));
  var email = str(first(c.email, base.email));
  var crmError = str(c.crm_error);
  var parts = [
    el(
      "div",
      { class: "customer-head" },
      avatar(name, "avatar-lg"),
      el(
        "div",
        null,
        el("div", { class: "customer-name" }, name, tierBadge(first(c.tier, base.tier))),
        email ? el("a", { class: "customer-email", title: email }, email) : null,
      ),
    ),
  ];
  // mailto: is not http(s); set it directly (the address is plain text from the CRM).
  var mail = parts[0].querySelector(".customer-email");
  if (mail) mail.setAttribute("href", "mailto:" + encodeURIComponent(email).replace(/%40/g, "@"));
  parts.push(
    el(
      "dl",
      { class: "kvs" },
      kv("Customer ID", str(first(c.external_id, base.external_id))),
      kv("Phone", str(first(c.phone, base.phone))),
      kv("Language", str(first(c.locale, base.locale)).toUpperCase()),
      account ? kv("Account", str(account.number)) : null,
      account
        ? kv(
            "Account status",
            el("span", { class: "acct acct-" + str(account.status) }, humanize(account.status) || "—"),
          )
        : kv("Account status", crmError ? "Unknown" : "No account"),
      account && account.subscription_tier ? kv("Plan", humanize(account.subscription_tier)) : null,
      account && account.balance !== undefined && account.balance !== null ? kv("Balance", money(account.balance, account.currency)) : null,
    ),
  );
  if (crmError) {
    parts.push(el("p", { class: "crm-error small", role: "status" }, "The CRM did not answer (" + crmError + "): account and orders are not shown. Check them in the CRM itself."));
  }
  if (orders.length) {
    parts.push(
      el(
        "table",
        { class: "orders" },
        el("caption", null, "Recent orders"),
        el("thead", null, el("tr", null, el("th", { scope: "col" }, "Order"), el("th", { scope: "col" }, "Status"), el("th", { scope: "col", class: "num" }, "Total"))),
        el(
          "tbody",
          null,
          orders.filter(isObj).slice(0, 5).map(function (o) {
            return el(
              "tr",
              null,
              el("td", { title: o.placed_at ? "Placed " + str(o.placed_at) : null }, el("span", { class: "mono" }, "#" + str(o.number))),
              el("td", null, el("span", { class: "ostatus ostatus-" + str(o.status) }, humanize(o.status))),
              el("td", { class: "num" }, money(o.total, o.currency)),
            );
          }),
        ),
      ),
    );
  } else if (!crmError) {
    parts.push(el("p", { class: "muted small" }, "No orders."));
  }
  if (tickets.length) {
    parts.push(
      el(
        "div",
        { class: "open-tickets" },
        el("div", { class: "kv-label" }, "Open tickets"),
        el(
          "ul",
          null,
          tickets.filter(isObj).map(function (t) {
            return el("li", null, el("span", { class: "mono" }, str(t.reference)), " ", str(t.subject));
          }),
        ),
      ),
    );
  }
  return card("Customer", parts, { cls: "card-customer" });
}
