// The demo shop's "Browse as" picker reloads the page as the chosen customer. An external
// file, not an inline handler, so the page's Content-Security-Policy needs no 'unsafe-inline'.
document.getElementById('browse-as')?.addEventListener('change', (event) => event.target.form.submit());
