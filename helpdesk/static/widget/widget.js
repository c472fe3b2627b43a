/*
 * Support Copilot chat widget. One script tag, no dependencies, no build step.
 *
 *   <script src="https://helpdesk.example/static/widget/widget.js"
 *           data-server="https://helpdesk.example" data-customer-id="cus_1001"
 *           data-identity-hash="…" data-language="cs" data-title="Help" defer></script>
 *
 * The REST and websocket protocol is documented in docs/live-chat.md. The host page can
 * restyle the accent with `#support-copilot-widget { --sc-accent: #0f766e; }`.
 * Safety rule for this file: text from customers, agents or the bot only ever reaches the
 * page as text nodes (append / textContent), never through innerHTML.
 */
(function () {
  'use strict';

  // currentScript is only set while this file first runs, so capture it at the top level.
  const script = document.currentScript || document.querySelector('script[src*="widget/widget.js"]');
  if (!script || document.getElementById('support-copilot-widget')) return;

  const PING_MS = 25000;
  const TYPING_IDLE_MS = 3000;
  const MAX_CHARS = 4000;
  const ICONS = {
    chat: 'M20 2H4c-1.1 0-2 .9-2 2v18l4-4h14c1.1 0 2-.9 2-2V4c0-1.1-.9-2-2-2zM6 9h12v2H6V9zm8 5H6v-2h8v2zm4-6H6V6h12v2z',
    close: 'M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4 17.6 19 19 17.6 13.4 12z',
    send: 'M3.4 20.4 21 12 3.4 3.6 3.4 10.1 15 12 3.4 13.9z',
    up: 'M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.5-1.1L14.2 1 7.6 7.6C7.2 8 7 8.4 7 9v10c0 1.1.9 2 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z',
    down: 'M15 3H6c-.8 0-1.5.5-1.8 1.2l-3 7.1c-.1.2-.2.5-.2.7v2c0 1.1.9 2 2 2h6.3l-1 4.6v.3c0 .4.2.8.5 1.1L9.8 23l6.6-6.6c.4-.4.6-.9.6-1.4V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z',
  };

  const STRINGS = {
    en: {
      title: 'Help', open: 'Open chat', close: 'Close chat', dialog: 'Customer support chat',
      subtitle: 'Our assistant answers right away', chattingWith: 'Chatting with {name}',
      queued: 'Waiting for a colleague to join',
      connecting: 'Connecting…', reconnecting: 'Connection lost, reconnecting…',
      welcome: 'Hi! Ask about your orders, returns or account, or anything in our help centre.',
      welcomeNamed: 'Hi {name}! Ask about your orders, returns or account, or anything in our help centre.',
      messages: 'Messages', placeholder: 'Write a message…', messageLabel: 'Message', send: 'Send',
      human: 'Talk to a human', assistant: 'Assistant', you: 'You', support: 'Support',
      sending: 'Sending…', sent: 'Sent', failed: 'Not sent.', retry: 'Retry',
      typing: '{name} is typing…', sources: 'Sources', source: 'Source {n}: {title}',
      newMessage: 'New message from {who}: {text}',
      forbidden: "We couldn't verify your account, so the chat can't start. Please reload the page or sign in again.",
      csatQuestion: 'How did we do?', csatUp: 'Good', csatDown: 'Not good',
      csatComment: 'Anything else you want to tell us? (optional)', csatSend: 'Send feedback',
      csatThanks: 'Thanks for your feedback', csatFailed: "We couldn't save your rating. Please try again.",
      emailLabel: 'Your email address', emailSend: 'Send', emailInvalid: 'Enter a valid email address.',
      emailFailed: "We couldn't save your email. Please try again.",
      emailLimited: "We can't send more email to this address right now. Please try again later, or stay in the chat.",
      err_rate_limited: 'You are sending messages too quickly. Please wait a moment.',
      err_unavailable: 'We could not save that just now. Please try again.',
      err_too_long: 'That message is too long (at most 4000 characters).',
      err_empty: 'A message cannot be empty.', err_closed: 'This conversation is closed.',
      err_copilot_unavailable: 'The assistant could not answer just now. Your message is saved and our team will see it.',
      err_generic: 'Something went wrong. Please try again.',
    },
    cs: {
      title: 'Nápověda', open: 'Otevřít chat', close: 'Zavřít chat', dialog: 'Chat se zákaznickou podporou',
      subtitle: 'Náš asistent odpovídá hned', chattingWith: 'Ve chatu: {name}',
      queued: 'Čekáte na kolegu z podpory',
      connecting: 'Připojování…', reconnecting: 'Spojení se přerušilo, připojuji znovu…',
      welcome: 'Dobrý den! Zeptejte se na objednávky, vrácení zboží, účet nebo cokoli z nápovědy.',
      welcomeNamed: 'Dobrý den! Zeptejte se na objednávky, vrácení zboží, účet nebo cokoli z nápovědy.',
      messages: 'Zprávy', placeholder: 'Napište zprávu…', messageLabel: 'Zpráva', send: 'Odeslat',
      human: 'Mluvit s člověkem', assistant: 'Asistent', you: 'Vy', support: 'Podpora',
      sending: 'Odesílání…', sent: 'Odesláno', failed: 'Neodesláno.', retry: 'Zkusit znovu',
      typing: '{name} píše…', sources: 'Zdroje', source: 'Zdroj {n}: {title}',
      newMessage: 'Nová zpráva od {who}: {text}',
      forbidden: 'Nepodařilo se ověřit váš účet, chat proto nelze spustit. Načtěte stránku znovu nebo se znovu přihlaste.',
      csatQuestion: 'Jak jsme vám pomohli?', csatUp: 'Dobře', csatDown: 'Špatně',
      csatComment: 'Chcete nám ještě něco vzkázat? (nepovinné)', csatSend: 'Odeslat hodnocení',
      csatThanks: 'Děkujeme za zpětnou vazbu', csatFailed: 'Hodnocení se nepodařilo uložit. Zkuste to prosím znovu.',
      emailLabel: 'Váš e-mail', emailSend: 'Odeslat', emailInvalid: 'Zadejte platnou e-mailovou adresu.',
      emailFailed: 'E-mail se nepodařilo uložit. Zkuste to prosím znovu.',
      emailLimited: 'Na tuto adresu teď další e-mail poslat nemůžeme. Zkuste to prosím později, nebo zůstaňte v chatu.',
      err_rate_limited: 'Posíláte zprávy příliš rychle. Chvíli prosím počkejte.',
      err_unavailable: 'Zprávu se teď nepodařilo uložit. Zkuste to prosím znovu.',
      err_too_long: 'Zpráva je příliš dlouhá (nejvýše 4000 znaků).',
      err_empty: 'Zpráva nemůže být prázdná.', err_closed: 'Tato konverzace je uzavřená.',
      err_copilot_unavailable: 'Asistent teď nemohl odpovědět. Vaše zpráva je uložená a uvidí ji náš tým.',
      err_generic: 'Něco se pokazilo. Zkuste to prosím znovu.',
    },
  };

  const CSS = `
:host { all: initial; } *, *::before, *::after { box-sizing: border-box; }
.root { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1f2937; --accent: var(--sc-accent, #2563eb); }
button, textarea { font: inherit; color: inherit; }
button:focus-visible, a:focus-visible, .log:focus-visible { outline: 3px solid var(--sc-focus, #f59e0b); outline-offset: 2px; }
textarea:focus-visible { outline: 2px solid var(--accent); outline-offset: -1px; }
button:disabled, textarea:disabled { opacity: .55; cursor: default; } [hidden] { display: none !important; }
.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 58px; height: 58px; border: 0; border-radius: 50%;
  background: var(--accent); color: #fff; cursor: pointer; display: grid; place-items: center; box-shadow: 0 6px 20px rgba(15, 23, 42, .28); transition: transform .15s; }
.launcher:hover { transform: scale(1.06); } .launcher svg { width: 28px; height: 28px; fill: currentColor; }
.launcher .i-close, .root.open .launcher .i-chat { display: none; } .root.open .launcher .i-close { display: block; }
.badge { position: absolute; top: -3px; right: -3px; min-width: 21px; height: 21px; padding: 0 6px; border-radius: 11px; background: #dc2626; color: #fff; font-size: 12px; font-weight: 700; line-height: 21px; }
.panel { position: fixed; right: 20px; bottom: 92px; z-index: 2147483001; width: 380px; height: min(640px, calc(100vh - 112px)); display: flex; flex-direction: column;
  overflow: hidden; background: #fff; border-radius: 16px; box-shadow: 0 16px 48px rgba(15, 23, 42, .28); }
.header { display: flex; align-items: center; gap: 10px; padding: 14px 12px 14px 16px; background: var(--accent); color: #fff; }
.titles { flex: 1; min-width: 0; } .title { margin: 0; font-size: 16px; font-weight: 700; }
.subtitle { display: flex; align-items: center; gap: 6px; font-size: 12.5px; opacity: .92; }
.dot { flex: none; width: 8px; height: 8px; border-radius: 50%; background: #cbd5e1; }
.dot.online { background: #4ade80; } .dot.offline { background: #fbbf24; }
.icon-btn { flex: none; width: 36px; height: 36px; border: 0; border-radius: 8px; background: transparent; cursor: pointer; display: grid; place-items: center; }
.icon-btn:hover { background: rgba(255, 255, 255, .18); }
.icon-btn svg, .send svg { width: 20px; height: 20px; fill: currentColor; }
.banner { margin: 0; padding: 10px 16px; font-size: 13px; background: #fee2e2; color: #991b1b; }
.log { flex: 1; overflow-y: auto; overscroll-behavior: contain; padding: 16px 14px; display: flex; flex-direction: column; gap: 10px; background: #f8fafc; }
.welcome { margin: 0 0 4px; padding: 10px 12px; border: 1px dashed #cbd5e1; border-radius: 12px; background: #fff; color: #475569; font-size: 13px; text-align: center; }
.msg { display: flex; flex-direction: column; align-items: flex-start; align-self: flex-start; max-width: 86%; }
.msg.customer { align-self: flex-end; align-items: flex-end; }
.author { margin: 0 4px 3px; font-size: 12px; font-weight: 600; color: #64748b; }
.bubble { padding: 9px 12px; border: 1px solid #e2e8f0; border-radius: 14px 14px 14px 4px; background: #fff; overflow-wrap: anywhere; }
.msg.customer .bubble { white-space: pre-wrap; border-color: transparent; border-radius: 14px 14px 4px 14px; background: var(--accent); color: #fff; }
.msg.agent .bubble { background: #ecfdf5; border-color: #a7f3d0; } .msg.unsent .bubble { opacity: .75; }
.msg.failed .bubble { background: #fecaca; color: #7f1d1d; }
.bubble p { margin: 0; } .bubble p + p, .bubble p + ul, .bubble ul + p { margin-top: 8px; } .bubble ul { margin: 4px 0 0; padding-left: 20px; }
.bubble a { color: var(--accent); }
.bubble a.cite { margin-left: 2px; font-size: 11.5px; font-weight: 700; text-decoration: none; vertical-align: super; line-height: 0; }
.live .bubble::after { content: ""; display: inline-block; width: 7px; height: 14px; margin-left: 3px; vertical-align: -2px; background: #94a3b8; animation: sc-blink 1s steps(2) infinite; }
.sources { margin: 5px 4px 0; font-size: 12px; color: #475569; } .sources ol { margin: 2px 0 0; padding-left: 20px; } .sources a { color: inherit; }
.meta { margin: 3px 4px 0; font-size: 11.5px; color: #64748b; } .msg.failed .meta { color: #b91c1c; }
.link-btn { padding: 0 0 0 4px; border: 0; background: none; font-weight: 600; text-decoration: underline; cursor: pointer; }
.notice { align-self: center; max-width: 92%; margin: 2px 0; padding: 5px 12px; border-radius: 999px; background: #e2e8f0; color: #334155; font-size: 12.5px; text-align: center; }
.activity { padding: 0 16px; background: #f8fafc; font-size: 12.5px; color: #475569; } .activity:not(:empty) { padding: 2px 16px 8px; }
.chip { display: inline-flex; align-items: center; gap: 7px; padding: 4px 11px; border: 1px solid #e2e8f0; border-radius: 999px; background: #fff; }
.spinner { width: 11px; height: 11px; border: 2px solid #cbd5e1; border-top-color: var(--accent); border-radius: 50%; animation: sc-spin .8s linear infinite; }
.actions { display: flex; gap: 8px; padding: 8px 12px 0; border-top: 1px solid #e2e8f0; }
.pill { padding: 5px 12px; border: 1px solid #cbd5e1; border-radius: 999px; background: #fff; font-size: 13px; cursor: pointer; }
.pill:hover:not(:disabled) { border-color: var(--accent); color: var(--accent); } .msg .pill { margin-top: 6px; }
.error { margin: 0; padding: 6px 14px 0; color: #b91c1c; font-size: 12.5px; }
.composer { display: flex; align-items: flex-end; gap: 8px; padding: 8px 12px 12px; }
textarea { display: block; width: 100%; resize: none; padding: 9px 12px; border: 1px solid #cbd5e1; border-radius: 12px; background: #fff; line-height: 1.4; }
.composer textarea { flex: 1; min-height: 40px; max-height: 132px; }
.send { flex: none; width: 40px; height: 40px; border: 0; border-radius: 50%; background: var(--accent); color: #fff; cursor: pointer; display: grid; place-items: center; }
.csat { align-self: stretch; padding: 12px; border: 1px solid #e2e8f0; border-radius: 12px; background: #fff; text-align: center; }
.csat p { margin: 0; } .csat .q { font-weight: 600; } .csat textarea { margin-bottom: 8px; }
.rate { display: flex; justify-content: center; gap: 14px; margin: 10px 0; }
.rate button { width: 48px; height: 48px; border: 1px solid #cbd5e1; border-radius: 50%; background: #fff; cursor: pointer; display: grid; place-items: center; }
.rate svg { width: 22px; height: 22px; fill: currentColor; }
.rate button[aria-pressed="true"] { border-color: transparent; background: var(--accent); color: #fff; }
.primary { padding: 7px 16px; border: 0; border-radius: 8px; background: var(--accent); color: #fff; cursor: pointer; }
.csat .err { margin-top: 6px; color: #b91c1c; font-size: 12.5px; }
.email-ask { align-self: stretch; display: flex; flex-wrap: wrap; gap: 6px; padding: 10px; border: 1px solid #e2e8f0; border-radius: 12px; background: #fff; }
.email-ask label { flex-basis: 100%; font-weight: 600; font-size: 13px; }
.email-ask input { flex: 1; min-width: 0; padding: 7px 9px; border: 1px solid #cbd5e1; border-radius: 8px; font: inherit; }
.email-ask .err { flex-basis: 100%; margin: 0; color: #b91c1c; font-size: 12.5px; }
.email-ask .err:empty { display: none; }
.sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
@keyframes sc-spin { to { transform: rotate(360deg); } }
@keyframes sc-blink { 50% { opacity: 0; } }
@media (max-width: 480px) {
  .panel { inset: 0; width: auto; height: auto; border-radius: 0; }
  .root.open .launcher { display: none; }
}
@media (prefers-reduced-motion: reduce) { * { animation: none !important; transition: none !important; } }
`;

  // ------------------------------------------------------------------ configuration and state

  const config = readConfig(script);
  const STORE_KEY = 'support-copilot:' + config.server + ':' + (config.customerId || 'anon');
  const OPEN_KEY = STORE_KEY + ':open';

  function readConfig(el) {
    const data = el.dataset;
    const origin = new URL(el.getAttribute('src') || '', location.href).origin;
    return {
      server: (data.server || origin).replace(/\/+$/, ''),
      customerId: data.customerId || '',
      identityHash: data.identityHash || '',
      language: (data.language || '').toLowerCase(),
      title: data.title || '',
    };
  }

  const state = {
    lang: 'en', token: '', lastId: 0, conversationId: '', conversation: null, customer: null,
    outbox: new Map(), // client_id -> {text, el, failed}: not acked yet, resent with the same client_id
    rendered: new Map(), // message id -> element, so each message is drawn once
    live: null, // {replyTo, el, bubble, text}: the bot answer being streamed
    socket: null, connection: 'idle', everConnected: false, retries: 0, retryTimer: 0, pingTimer: 0,
    starting: null, blocked: false, humanWanted: false,
    typingSent: false, typingTimer: 0, statusText: '', agentTyping: '', agentTypingTimer: 0, errorTimer: 0,
    unread: 0, csatEl: null, emailEl: null, stickToBottom: true,
  };
  const ui = {};
  const i18nBindings = [];

  function t(key, vars) {
    const table = STRINGS[state.lang] || STRINGS.en;
    const text = table[key] != null ? table[key] : STRINGS.en[key] || '';
    return text.replace(/\{(\w+)\}/g, (_, name) => (vars && vars[name] != null ? String(vars[name]) : ''));
  }

  // Storage can be blocked (third-party iframes, private modes); the widget then just forgets on reload.
  function safely(fn, fallback) {
    try {
      return fn();
    } catch (e) {
      return fallback;
    }
  }

  function loadStore() {
    return safely(() => JSON.parse(localStorage.getItem(STORE_KEY)), null) || {};
  }

  function saveStore() {
    const outbox = [...state.outbox].map(([clientId, item]) => ({ client_id: clientId, text: item.text }));
    const record = { token: state.token, lastId: state.lastId, conversation: state.conversationId, language: state.lang, outbox };
    safely(() => localStorage.setItem(STORE_KEY, JSON.stringify(record)));
  }

  // ------------------------------------------------------------------ DOM helpers

  function h(tag, attrs, children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    // append() turns strings into text nodes: this is what keeps message text inert.
    for (const child of [].concat(children == null ? [] : children)) if (child != null) el.append(child);
    return el;
  }

  function icon(name, className) {
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    path.setAttribute('d', ICONS[name]);
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    if (className) svg.setAttribute('class', className);
    svg.append(path);
    return svg;
  }

  // Remembers which string an element shows, so switching to the conversation's language relabels it.
  function bind(el, key, attr) {
    i18nBindings.push([el, key, attr || 'text']);
    applyBinding(el, key, attr || 'text');
    return el;
  }

  function applyBinding(el, key, attr) {
    const text = typeof key === 'function' ? key() : t(key);
    if (attr === 'text') el.textContent = text;
    else el.setAttribute(attr, text);
  }

  function relabel() {
    for (const [el, key, attr] of i18nBindings) applyBinding(el, key, attr);
    updateHeader();
  }

  // ------------------------------------------------------------------ building the UI

  function buildUi() {
    const host = h('div', { id: 'support-copilot-widget' });
    const shadow = host.attachShadow({ mode: 'open' });
    shadow.append(h('style', null, CSS));

    ui.badge = h('span', { class: 'badge', 'aria-hidden': 'true', hidden: true });
    ui.launcher = bind(h('button', {
      type: 'button', class: 'launcher', part: 'launcher', 'aria-expanded': 'false', 'aria-controls': 'sc-panel',
      onclick: () => (isOpen() ? closePanel(true) : openPanel(true)),
    }, [icon('chat', 'i-chat'), icon('close', 'i-close'), ui.badge]), 'open', 'aria-label');

    ui.title = h('h2', { class: 'title', id: 'sc-title' });
    ui.dot = h('span', { class: 'dot', 'aria-hidden': 'true' });
    ui.subtitle = h('span', { class: 'subtitle-text' });
    ui.close = bind(h('button', { type: 'button', class: 'icon-btn', onclick: () => closePanel(true) }, icon('close')), 'close', 'aria-label');
    ui.banner = h('p', { class: 'banner', role: 'alert', hidden: true });
    ui.welcome = bind(h('p', { class: 'welcome' }),
      () => (state.customer ? t('welcomeNamed', { name: state.customer.name.split(' ')[0] }) : t('welcome')));
    ui.log = bind(h('div', { class: 'log', part: 'log', tabindex: '0', onscroll: onLogScroll }, ui.welcome), 'messages', 'aria-label');
    ui.activity = h('div', { class: 'activity', 'aria-hidden': 'true' });
    ui.human = bind(h('button', { type: 'button', class: 'pill', part: 'human', onclick: requestHuman }), 'human');
    ui.error = h('p', { class: 'error', role: 'alert', hidden: true });
    ui.input = h('textarea', { rows: '1', maxlength: String(MAX_CHARS), part: 'input', oninput: onComposerInput, onkeydown: onComposerKey });
    bind(bind(ui.input, 'placeholder', 'placeholder'), 'messageLabel', 'aria-label');
    ui.send = bind(h('button', { type: 'button', class: 'send', part: 'send', onclick: submitComposer }, icon('send')), 'send', 'aria-label');

    ui.panel = bind(h('div', { class: 'panel', id: 'sc-panel', part: 'panel', role: 'dialog', hidden: true }, [
      h('div', { class: 'header' }, [
        h('div', { class: 'titles' }, [ui.title, h('div', { class: 'subtitle' }, [ui.dot, ui.subtitle])]),
        ui.close,
      ]),
      ui.banner, ui.log, ui.activity,
      h('div', { class: 'actions' }, ui.human),
      ui.error,
      h('div', { class: 'composer' }, [ui.input, ui.send]),
    ]), () => config.title || t('dialog'), 'aria-label');
    // Outside the panel, so incoming messages are announced even while it is closed.
    ui.announcer = h('div', { class: 'sr-only', 'aria-live': 'polite' });
    ui.root = h('div', { class: 'root' }, [ui.launcher, ui.panel, ui.announcer]);
    shadow.append(ui.root);
    shadow.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && isOpen()) {
        event.preventDefault();
        closePanel(true);
      }
    });
    document.body.append(host);
    updateHeader();
  }

  function updateHeader(connection) {
    if (connection) state.connection = connection;
    const conversation = state.conversation;
    const agent = conversation && conversation.status === 'human' && conversation.agent ? conversation.agent.name : '';
    const subtitle = { connecting: t('connecting'), offline: t('reconnecting') }[state.connection];
    ui.root.setAttribute('lang', state.lang);
    ui.title.textContent = config.title || t('title');
    const queued = Boolean(conversation && conversation.status === 'pending_human');
    ui.subtitle.textContent = subtitle || (agent ? t('chattingWith', { name: agent }) : t(queued ? 'queued' : 'subtitle'));
    ui.dot.className = 'dot ' + state.connection;
    // Asked already: a second press would only repeat the notice.
    ui.human.hidden = Boolean(agent) || queued;
  }

  function isOpen() {
    return !ui.panel.hidden;
  }

  function openPanel(focus) {
    if (isOpen()) return;
    setOpen(true);
    state.unread = 0;
    renderBadge();
    startSession();
    scrollToEnd(true);
    if (focus) (ui.input.disabled ? ui.close : ui.input).focus();
  }

  function closePanel(focusLauncher) {
    if (!isOpen()) return;
    stopTyping();
    setOpen(false);
    if (focusLauncher) ui.launcher.focus();
  }

  function setOpen(open) {
    ui.panel.hidden = !open;
    ui.root.classList.toggle('open', open);
    ui.launcher.setAttribute('aria-expanded', String(open));
    safely(() => sessionStorage.setItem(OPEN_KEY, open ? '1' : '0'));
  }

  function renderBadge() {
    ui.badge.hidden = state.unread === 0;
    ui.badge.textContent = state.unread > 9 ? '9+' : String(state.unread);
  }

  // ------------------------------------------------------------------ session (REST)

  async function request(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body) headers['Content-Type'] = 'application/json';
    if (state.token) headers.Authorization = 'Conversation ' + state.token;
    // No cookies: the token is the only credential, and the host site's session never leaks in.
    const response = await fetch(config.server + path, { method, headers, body: body ? JSON.stringify(body) : undefined, credentials: 'omit' });
    const data = await response.json().catch(() => null);
    return { ok: response.ok, status: response.status, data };
  }

  function startSession() {
    if (!state.starting && !state.blocked) state.starting = openSession().finally(() => { state.starting = null; });
    return state.starting;
  }

  async function openSession() {
    clearTimeout(state.retryTimer);
    updateHeader('connecting');
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const body = {};
      if (config.customerId) Object.assign(body, { customer_id: config.customerId, identity_hash: config.identityHash });
      if (config.language) body.language = config.language;
      if (state.token) body.token = state.token;
      const response = await request('POST', '/api/widget/conversations', body).catch(() => null);
      if (!response) return retryLater(startSession);
      if (response.status === 403) return block(t('forbidden'));
      if (response.status === 400 && config.language) {
        config.language = ''; // a language the server does not speak: let it choose
        continue;
      }
      if (!response.ok || !response.data || !response.data.token) return retryLater(startSession);
      adoptSession(response.data);
      if ((await loadHistory(0, true)) === 'unauthorized') {
        state.token = '';
        continue;
      }
      return connect();
    }
    return retryLater(startSession);
  }

  function adoptSession(data) {
    if (data.conversation.id !== state.conversationId) resetConversation();
    state.token = data.token;
    state.conversationId = data.conversation.id;
    state.customer = data.customer;
    ui.banner.hidden = true;
    applyConversation(data.conversation);
    relabel(); // the welcome line greets a verified customer by name
    saveStore();
  }

  function applyConversation(conversation) {
    state.conversation = conversation;
    const lang = conversation.language;
    if (!config.language && STRINGS[lang] && lang !== state.lang) {
      state.lang = lang;
      relabel();
    }
    updateHeader();
  }

  // quiet: a transcript being redrawn is not announced message by message to screen readers.
  async function loadHistory(afterId, quiet) {
    const response = await request('GET', '/api/widget/conversation' + (afterId ? '?after=' + afterId : '')).catch(() => null);
    if (response && (response.status === 401 || response.status === 403)) return 'unauthorized';
    // On failure the socket's resume still brings the messages.
    if (!response || !response.ok || !response.data) return 'failed';
    applyConversation(response.data.conversation);
    for (const message of response.data.messages || []) renderMessage(message, quiet);
    setFollowUp(response.data.follow_up);
    const conversation = state.conversation;
    if (conversation.status === 'resolved' && !conversation.csat) showCsat();
    return 'ok';
  }

  // A new conversation: the old transcript belongs to one this visitor can no longer open.
  function resetConversation() {
    for (const el of ui.log.querySelectorAll('[data-id], .notice, .csat, .email-ask, .live')) el.remove();
    state.rendered.clear();
    state.emailEl = null;
    state.live = null;
    state.csatEl = null;
    state.lastId = 0;
  }

  function block(text) {
    state.blocked = true;
    updateHeader('idle');
    ui.banner.textContent = text;
    ui.banner.hidden = false;
    for (const el of [ui.input, ui.send, ui.human]) el.disabled = true;
  }

  function retryLater(fn) {
    clearTimeout(state.retryTimer);
    // Exponential backoff from 1 s to 30 s, with jitter so many widgets don't reconnect in lockstep.
    const base = Math.min(30000, 1000 * 2 ** state.retries);
    state.retries = Math.min(state.retries + 1, 10);
    state.retryTimer = setTimeout(fn, Math.max(1000, Math.min(30000, base * (0.8 + Math.random() * 0.4))));
    updateHeader('offline');
  }

  // ------------------------------------------------------------------ websocket

  function connect() {
    if (!state.token || state.blocked) return;
    clearTimeout(state.retryTimer);
    dropSocket();
    const url = config.server.replace(/^http/i, 'ws') + '/ws/chat/' + encodeURIComponent(state.token) + '/';
    const socket = safely(() => new WebSocket(url), null);
    if (!socket) return retryLater(connect);
    state.socket = socket;
    updateHeader('connecting');
    socket.onopen = () => {
      if (state.socket !== socket) return;
      sendFrame({ type: 'resume', last_id: state.lastId });
      state.pingTimer = setInterval(() => sendFrame({ type: 'ping' }), PING_MS);
    };
    socket.onmessage = (event) => {
      const frame = safely(() => JSON.parse(event.data), null);
      if (frame && typeof frame.type === 'string') handleFrame(frame);
    };
    socket.onclose = (event) => {
      if (state.socket !== socket) return; // replaced on purpose
      state.socket = null;
      clearInterval(state.pingTimer);
      endLive();
      setStatus('');
      if (event.code === 4401 || event.code === 4404) {
        // The token expired or its conversation is gone: start a fresh conversation.
        state.token = '';
        saveStore();
        retryLater(startSession);
      } else {
        retryLater(connect);
      }
    };
  }

  function dropSocket() {
    const socket = state.socket;
    state.socket = null;
    clearInterval(state.pingTimer);
    if (socket) socket.close();
  }

  function sendFrame(frame) {
    const socket = state.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  // Back online or back in the foreground: don't wait for the backoff timer.
  function reconnectNow() {
    if (state.blocked || state.socket || state.starting) return;
    if (state.token) connect();
    else if (isOpen()) startSession();
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case 'ack': return onAck(frame);
      case 'message': return renderMessage(frame.message, false);
      case 'status': return setStatus(frame.text || '');
      case 'token': return onToken(frame);
      case 'reply_done': endLive(); return setStatus('');
      case 'escalated': return onEscalated(frame);
      case 'agent_joined': return setAgent('human', { name: frame.name || t('support') });
      case 'agent_left': return setAgent('bot', null);
      case 'typing': return frame.role === 'agent' ? setAgentTyping(frame.name, frame.active) : undefined;
      case 'resolved': return onResolved();
      case 'resumed': return onResumed();
      case 'error': return onError(frame);
      default: return undefined; // pong, and frames a newer server may add
    }
  }

  function onResumed() {
    // Only a resumed socket counts as healthy; one closed right after opening keeps backing off.
    const reconnected = state.everConnected;
    state.everConnected = true;
    state.retries = 0;
    updateHeader('online');
    for (const [clientId, item] of state.outbox) if (!item.failed) transmit(clientId);
    if (state.humanWanted) state.humanWanted = !sendFrame({ type: 'human' });
    // Resume replays messages but not state changes (agent, resolved) missed while away.
    if (reconnected) loadHistory(state.lastId, false);
  }

  function onAck(frame) {
    const item = state.outbox.get(frame.client_id);
    if (item && typeof frame.id === 'number') markSent(frame.client_id, item, frame.id);
  }

  function onEscalated(frame) {
    if (state.conversation && state.conversation.status !== 'human') state.conversation.status = 'pending_human';
    updateHeader();
    if (frame.text) addNotice(frame.text);
    setFollowUp(frame.follow_up);
  }

  // The stored system message is the visible notice; these frames only update the header.
  function setAgent(status, agent) {
    if (!state.conversation) return;
    Object.assign(state.conversation, { status, agent });
    setAgentTyping('', false);
    updateHeader();
  }

  function onResolved() {
    setAgent('resolved', null);
    if (state.csatEl && state.csatEl.dataset.done) state.csatEl = null; // a new resolution earns a new question
    showCsat();
  }

  function onError(frame) {
    const item = frame.client_id ? state.outbox.get(frame.client_id) : null;
    // Too long or empty will never succeed, so no retry; anything else (rate limit) can be retried.
    if (item) markFailed(frame.client_id, item, !['too_long', 'empty', 'bad_frame'].includes(frame.code));
    if (frame.code === 'copilot_unavailable') endLive();
    const key = 'err_' + frame.code;
    showError(STRINGS.en[key] ? t(key) : frame.detail || t('err_generic'));
  }

  // ------------------------------------------------------------------ sending

  function onComposerKey(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitComposer();
    }
  }

  function onComposerInput() {
    autoGrow();
    if (!ui.input.value.trim()) return stopTyping();
    if (!state.typingSent) state.typingSent = sendFrame({ type: 'typing', active: true });
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(state.typingTimer);
    if (state.typingSent) sendFrame({ type: 'typing', active: false });
    state.typingSent = false;
  }

  function autoGrow() {
    ui.input.style.height = 'auto';
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 132) + 'px';
  }

  function submitComposer() {
    const text = ui.input.value;
    if (!text.trim() || state.blocked) return;
    if (text.length > MAX_CHARS) return showError(t('err_too_long'));
    stopTyping();
    ui.input.value = '';
    autoGrow();
    hideError();
    // Writing again reopens a resolved conversation, so an unanswered rating card is stale.
    if (state.csatEl && !state.csatEl.dataset.done) state.csatEl.remove();
    state.csatEl = null;
    if (state.conversation && state.conversation.status === 'resolved') state.conversation.status = 'bot';
    queueMessage(text, newClientId());
    scrollToEnd(true);
    if (!state.token) startSession();
  }

  function queueMessage(text, clientId) {
    const el = buildMessage({ role: 'customer', content: text, client_id: clientId });
    el.classList.add('unsent');
    setMeta(el, 'sending', t('sending'));
    state.outbox.set(clientId, { text, el, failed: false });
    saveStore();
    logAppend(el);
    transmit(clientId);
  }

  // Not connected: the message waits in the outbox and goes out after the next "resumed".
  function transmit(clientId) {
    const item = state.outbox.get(clientId);
    if (item) sendFrame({ type: 'message', text: item.text, client_id: clientId });
  }

  function markSent(clientId, item, id) {
    state.outbox.delete(clientId);
    saveStore();
    item.el.classList.remove('unsent', 'failed');
    item.el.dataset.id = String(id);
    setMeta(item.el, 'sent', t('sent'));
    state.rendered.set(id, item.el);
  }

  function markFailed(clientId, item, retryable) {
    item.failed = true;
    item.el.classList.add('failed');
    setMeta(item.el, 'failed', t('failed'));
    if (retryable) {
      item.el.querySelector('.meta').append(h('button', { type: 'button', class: 'link-btn', onclick: () => retry(clientId) }, t('retry')));
    } else {
      state.outbox.delete(clientId);
    }
    saveStore();
  }

  function retry(clientId) {
    const item = state.outbox.get(clientId);
    if (!item) return;
    item.failed = false;
    item.el.classList.remove('failed');
    setMeta(item.el, 'sending', t('sending'));
    transmit(clientId);
  }

  function requestHuman() {
    if (sendFrame({ type: 'human' })) return;
    state.humanWanted = true; // sent after the next "resumed"
    reconnectNow();
  }

  function newClientId() {
    const cryptoApi = window.crypto;
    if (cryptoApi && typeof cryptoApi.randomUUID === 'function') return cryptoApi.randomUUID();
    // randomUUID needs a secure context (https); getRandomValues does not.
    const bytes = new Uint8Array(16);
    if (cryptoApi && cryptoApi.getRandomValues) cryptoApi.getRandomValues(bytes);
    else for (let i = 0; i < 16; i += 1) bytes[i] = Math.floor(Math.random() * 256);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // ------------------------------------------------------------------ rendering messages

  function renderMessage(message, quiet) {
    if (!message || typeof message.id !== 'number') return;
    if (message.id > state.lastId) {
      state.lastId = message.id;
      saveStore();
    }
    if (state.rendered.has(message.id)) return;
    const own = message.role === 'customer' && message.client_id ? state.outbox.get(message.client_id) : null;
    if (own) {
      // Our own message came back (a replay, or before its ack): reuse the pending bubble.
      markSent(message.client_id, own, message.id);
      own.el.remove();
      insertById(own.el, message.id);
      return;
    }
    let el = buildMessage(message);
    const last = lastEntry();
    if (message.role === 'assistant' && state.live) {
      // The stored answer replaces the streamed draft, now with citations and sources.
      state.live.el.replaceWith(el);
      state.live = null;
    } else if (message.role === 'system' && last && !last.dataset.id && last.textContent === message.content) {
      el = last; // the same notice was just shown from a frame
    } else {
      insertById(el, message.id);
    }
    el.dataset.id = String(message.id);
    state.rendered.set(message.id, el);
    if (message.role === 'assistant') setStatus('');
    if (message.role === 'agent') setAgentTyping('', false);
    if (message.role !== 'customer' && !quiet) noteIncoming(message);
    scrollToEnd(false);
  }

  function buildMessage(message) {
    const role = message.role;
    if (role === 'system') return h('p', { class: 'notice' }, message.content);
    const el = h('div', { class: 'msg ' + role, 'data-role': role, 'data-state': 'sent' });
    if (role === 'customer') {
      el.append(h('span', { class: 'sr-only' }, t('you') + ': '), h('div', { class: 'bubble' }, message.content));
    } else {
      const who = role === 'agent' ? message.author || t('support') : t('assistant');
      el.append(h('div', { class: 'author' }, who), h('div', { class: 'bubble' }, renderRich(message.content, message.citations)));
      const sources = buildSources(message.citations);
      if (sources) el.append(sources);
      if (message.offer_human && !(state.conversation && state.conversation.status === 'human')) {
        el.append(h('button', { type: 'button', class: 'pill', onclick: requestHuman }, t('human')));
      }
    }
    el.append(h('div', { class: 'meta' }, formatTime(message.created_at)));
    return el;
  }

  function setMeta(el, stateName, text) {
    el.dataset.state = stateName;
    el.querySelector('.meta').textContent = text;
  }

  // Keep id order; unsent bubbles and the live draft stay last, being newer than anything stored.
  function insertById(el, id) {
    const next = [...ui.log.children].find((node) => Number(node.dataset.id) > id || node.matches('.unsent, .live'));
    ui.log.insertBefore(el, next || state.emailEl || null);
  }

  // The email form asks the visitor to act, so it stays below whatever arrives after it.
  function logAppend(el) {
    ui.log.insertBefore(el, state.emailEl || null);
  }

  function lastEntry() {
    return state.emailEl ? state.emailEl.previousElementSibling : ui.log.lastElementChild;
  }

  function addNotice(text) {
    const last = lastEntry();
    if (last && last.classList.contains('notice') && last.textContent === text) return;
    logAppend(h('p', { class: 'notice' }, text));
    announce(text);
    scrollToEnd(false);
  }

  function noteIncoming(message) {
    const who = message.role === 'agent' ? message.author || t('support') : t('assistant');
    const text = message.content.replace(/\s+/g, ' ').slice(0, 300);
    announce(message.role === 'system' ? text : t('newMessage', { who, text }));
    if (!isOpen()) {
      state.unread += 1;
      renderBadge();
    }
  }

  function announce(text) {
    ui.announcer.append(h('p', null, text));
    while (ui.announcer.childElementCount > 3) ui.announcer.firstElementChild.remove();
  }

  function formatTime(iso) {
    const date = iso ? new Date(iso) : new Date();
    return isNaN(date) ? '' : date.toLocaleTimeString(state.lang, { hour: '2-digit', minute: '2-digit' });
  }

  // ------------------------------------------------------------------ streaming, status, typing

  function onToken(frame) {
    setStatus('');
    if (!state.live || state.live.replyTo !== frame.reply_to) {
      endLive();
      const bubble = h('div', { class: 'bubble' });
      const el = h('div', { class: 'msg assistant live', 'data-role': 'assistant', 'data-state': 'streaming', 'aria-busy': 'true' },
        [h('div', { class: 'author' }, t('assistant')), bubble]);
      logAppend(el);
      state.live = { replyTo: frame.reply_to, el, bubble, text: '' };
    }
    state.live.text += String(frame.delta || '');
    state.live.bubble.replaceChildren(renderRich(state.live.text, []));
    scrollToEnd(false);
  }

  function endLive() {
    if (!state.live) return;
    state.live.el.classList.remove('live');
    state.live.el.removeAttribute('aria-busy');
    state.live = null;
  }

  function setStatus(text) {
    // "Searching the help centre" reads as ongoing work with an ellipsis.
    state.statusText = text && !/[….!?]$/.test(text) ? text + '…' : text;
    renderActivity();
  }

  function setAgentTyping(name, active) {
    clearTimeout(state.agentTypingTimer);
    state.agentTyping = active ? name || t('support') : '';
    // A lost "active: false" must not leave the indicator on forever.
    if (active) state.agentTypingTimer = setTimeout(() => setAgentTyping('', false), 10000);
    renderActivity();
  }

  function renderActivity() {
    const text = state.statusText || (state.agentTyping ? t('typing', { name: state.agentTyping }) : '');
    ui.activity.replaceChildren();
    if (text) ui.activity.append(h('span', { class: 'chip', part: 'status' }, [h('span', { class: 'spinner' }), text]));
    scrollToEnd(false);
  }

  // ------------------------------------------------------------------ safe markdown

  // A tiny markdown subset (**bold**, *emphasis*, "- " lists, [text](url), [n] citations),
  // built as DOM nodes: every piece of text goes in as a text node.
  function renderRich(text, citations) {
    const byNumber = new Map();
    for (const c of citations || []) if (c && c.n != null && safeUrl(c.url)) byNumber.set(String(c.n), c);
    const fragment = document.createDocumentFragment();
    for (const block of String(text || '').replace(/\r\n?/g, '\n').split(/\n{2,}/)) {
      let paragraph = null;
      let list = null;
      for (const line of block.split('\n')) {
        const item = /^\s*[-*•]\s+(.*)$/.exec(line);
        if (item) {
          paragraph = null;
          if (!list) fragment.append(list = h('ul'));
          list.append(h('li', null, renderInline(item[1], byNumber)));
        } else if (line.trim()) {
          list = null;
          if (paragraph) paragraph.append(h('br'));
          else fragment.append(paragraph = h('p'));
          paragraph.append(renderInline(line, byNumber));
        }
      }
    }
    return fragment;
  }

  function renderInline(text, byNumber) {
    const pattern = /\*\*(.+?)\*\*|\[([^\]\n]+)\]\(([^)\s]+)\)|\[(\d{1,3})\]|(?<![\w*])\*(?![\s*])([^*\n]+?)(?<![\s*])\*(?![\w*])/g;
    const fragment = document.createDocumentFragment();
    let last = 0;
    let match;
    while ((match = pattern.exec(text))) {
      fragment.append(text.slice(last, match.index));
      last = pattern.lastIndex;
      const [whole, bold, label, href, number, emphasis] = match;
      if (bold !== undefined) fragment.append(h('strong', null, renderInline(bold, byNumber)));
      else if (emphasis !== undefined) fragment.append(h('em', null, emphasis));
      else if (label !== undefined) fragment.append(safeUrl(href) ? externalLink(safeUrl(href), label) : whole);
      else fragment.append(byNumber.has(number) ? citationLink(byNumber.get(number)) : whole);
    }
    fragment.append(text.slice(last));
    return fragment;
  }

  // Only site-relative paths (resolved against the helpdesk) and http(s) URLs; never javascript: and co.
  function safeUrl(url) {
    if (typeof url !== 'string') return null;
    if (/^\/(?!\/)/.test(url)) return config.server + url;
    return /^https?:\/\//i.test(url) ? safely(() => new URL(url).href, null) : null;
  }

  function externalLink(url, text) {
    return h('a', { href: url, target: '_blank', rel: 'noopener' }, text);
  }

  function citationLink(citation) {
    const link = externalLink(safeUrl(citation.url), '[' + citation.n + ']');
    link.className = 'cite';
    link.title = citation.title || '';
    link.setAttribute('aria-label', t('source', { n: citation.n, title: citation.title || '' }));
    return link;
  }

  function buildSources(citations) {
    const usable = (citations || []).filter((c) => c && safeUrl(c.url));
    if (!usable.length) return null;
    const items = usable.map((c) => h('li', Number.isInteger(c.n) ? { value: c.n } : null, externalLink(safeUrl(c.url), c.title || c.url)));
    return h('div', { class: 'sources' }, [h('span', null, t('sources') + ':'), h('ol', null, items)]);
  }

  // ------------------------------------------------------------------ satisfaction (CSAT)

  function showCsat() {
    if (state.csatEl) return;
    let rating = '';
    const rateButton = (value, label) => h('button', {
      type: 'button', 'aria-pressed': 'false', 'aria-label': t(label), 'data-rating': value, onclick: () => choose(value),
    }, icon(value));
    const up = rateButton('up', 'csatUp');
    const down = rateButton('down', 'csatDown');
    const comment = h('textarea', { rows: '2', maxlength: '2000', 'aria-label': t('csatComment'), placeholder: t('csatComment') });
    const send = h('button', { type: 'button', class: 'primary', disabled: true, onclick: submit }, t('csatSend'));
    const problem = h('p', { class: 'err', role: 'alert' });
    const card = h('div', { class: 'csat', part: 'csat', role: 'group', 'aria-label': t('csatQuestion') },
      [h('p', { class: 'q' }, t('csatQuestion')), h('div', { class: 'rate' }, [up, down]), comment, send, problem]);

    function choose(value) {
      rating = value;
      up.setAttribute('aria-pressed', String(value === 'up'));
      down.setAttribute('aria-pressed', String(value === 'down'));
      send.disabled = false;
    }

    async function submit() {
      send.disabled = true;
      const body = { rating, comment: comment.value.trim() };
      const response = await request('POST', '/api/widget/conversation/csat', body).catch(() => ({ ok: false }));
      if (response.ok) {
        if (state.conversation) state.conversation.csat = rating;
        card.dataset.done = '1';
        card.replaceChildren(h('p', { class: 'thanks' }, t('csatThanks')));
        announce(t('csatThanks'));
      } else {
        problem.textContent = (response.status === 409 && response.data && response.data.detail) || t('csatFailed');
        send.disabled = false;
      }
    }

    state.csatEl = card;
    ui.log.append(card);
    scrollToEnd(false);
  }

  // ------------------------------------------------------------------ email follow-up

  // No agent was online: a visitor we know no address for is asked where to follow up.
  function setFollowUp(followUp) {
    const wanted = Boolean(followUp && followUp.by_email && !followUp.email);
    if (!wanted) {
      if (state.emailEl) state.emailEl.remove();
      state.emailEl = null;
      return;
    }
    if (state.emailEl) return;
    const id = 'sc-email-' + Math.random().toString(36).slice(2);
    const input = h('input', { id, type: 'email', required: true, autocomplete: 'email', maxlength: '254', part: 'email' });
    const send = h('button', { type: 'submit', class: 'primary' }, t('emailSend'));
    const problem = h('p', { class: 'err', role: 'alert' });
    const form = h('form', { class: 'email-ask', part: 'email-form', novalidate: true },
      [h('label', { for: id }, t('emailLabel')), input, send, problem]);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const email = input.value.trim();
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
        problem.textContent = t('emailInvalid');
        input.focus();
        return;
      }
      send.disabled = true;
      const response = await request('POST', '/api/widget/conversation/email', { email }).catch(() => ({ ok: false }));
      send.disabled = false;
      if (response.ok) {
        setFollowUp(response.data && response.data.follow_up);
      } else {
        const reasons = { 400: 'emailInvalid', 429: 'emailLimited' };
        problem.textContent = t(reasons[response.status] || 'emailFailed');
      }
    });
    state.emailEl = form;
    ui.log.append(form);
    scrollToEnd(false);
  }

  // ------------------------------------------------------------------ inline errors and scrolling

  function showError(text) {
    clearTimeout(state.errorTimer);
    ui.error.textContent = text;
    ui.error.hidden = false;
    state.errorTimer = setTimeout(hideError, 8000);
  }

  function hideError() {
    ui.error.hidden = true;
    ui.error.textContent = '';
  }

  function onLogScroll() {
    const log = ui.log;
    state.stickToBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  }

  // Follow new content unless the reader scrolled up to look at something older.
  function scrollToEnd(force) {
    if (force) state.stickToBottom = true;
    if (state.stickToBottom) ui.log.scrollTop = ui.log.scrollHeight;
  }

  // ------------------------------------------------------------------ start

  function init() {
    const saved = loadStore();
    state.lang = STRINGS[config.language] ? config.language : STRINGS[saved.language] ? saved.language : 'en';
    state.token = typeof saved.token === 'string' ? saved.token : '';
    state.conversationId = typeof saved.conversation === 'string' ? saved.conversation : '';
    // lastId starts at 0: the transcript is re-fetched, and resume continues from what was drawn.
    buildUi();
    for (const item of Array.isArray(saved.outbox) ? saved.outbox : []) {
      if (item && typeof item.client_id === 'string' && typeof item.text === 'string') queueMessage(item.text, item.client_id);
    }
    window.addEventListener('online', reconnectNow);
    document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && reconnectNow());
    if (safely(() => sessionStorage.getItem(OPEN_KEY), null) === '1') openPanel(false);
    else if (state.token) startSession();
  }

  if (document.body) init();
  else document.addEventListener('DOMContentLoaded', init);
})();
