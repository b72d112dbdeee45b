// The demo shop's front end: plain JS, no build step. demo/server.py fills in REGRESSIONS when it serves
// this file; each name switches on one bug below, so the tracking verification has something to catch.
'use strict';

const REGRESSIONS = new Set(/*@regressions*/[]);
const bug = (name) => REGRESSIONS.has(name);
const position = (index) => (bug('position_one_based') ? index + 1 : index);
const sensors = window.sensorsDataAnalytic201505;
if (sensors) {
  sensors.init({
    server_url: location.origin + '/sa?project=demo', send_type: 'ajax', show_log: false,
    is_track_single_page: false, heatmap: {clickmap: 'not_collect', scroll_notice_map: 'not_collect'},
  });
  sensors.login('demo-user-1');
} else {
  console.error('Sensors Data SDK not loaded: run npm ci --prefix demo/web');
}
const track = (event, properties) => { if (sensors) sensors.track(event, properties); };

const $ = (id) => document.getElementById(id);
const state = {tabs: [], tabId: null, items: []};

// Tests and the replay wait for data-ready="yes" before acting on or comparing the screen.
const settle = (ready) => { document.body.dataset.ready = ready ? 'yes' : 'no'; };

function fail(error) {
  console.error(error);
  document.body.dataset.ready = 'error';
  $('empty').textContent = 'Something went wrong: ' + error.message;
  $('empty').hidden = false;
}

async function api(path, options) {
  const response = await fetch(path, options);
  if (!response.ok) throw new Error(`${path} answered HTTP ${response.status}`);
  return response.json();
}

function el(tag, props, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// ---- home: tabs and the product list ----

function renderTabs() {
  $('tabs').replaceChildren(...state.tabs.map((tab) => {
    const button = el('button', {id: `tab-${tab.tab_id}`, type: 'button', textContent: tab.tab_name});
    button.setAttribute('role', 'tab');
    button.addEventListener('click', () => selectTab(tab).catch(fail));
    return button;
  }));
  markSelectedTab();
}

function markSelectedTab() {
  for (const tab of state.tabs) $(`tab-${tab.tab_id}`).setAttribute('aria-selected', String(tab.tab_id === state.tabId));
}

function renderProducts(items, tabId) {
  state.items = items;
  $('products').replaceChildren(...items.map((item, index) => {
    const name = el('button', {className: 'name', type: 'button', textContent: item.name});
    name.addEventListener('click', () => openProduct(item, index).catch(fail));
    const add = el('button', {id: `add-${item.product_id}`, type: 'button', textContent: 'Add to cart'});
    add.addEventListener('click', () => addToCart(item).catch(fail));
    const card = el('li', {className: 'card'},
      el('div', {}, name, el('div', {className: 'meta', textContent: `${item.tags.join(' · ')} — ${item.stock} in stock`})),
      el('span', {className: 'price', textContent: `¥${item.price}`}), add);
    card.dataset.productId = item.product_id;
    card.dataset.index = index;
    return card;
  }));
  filterList();
  // One exposure per card the user can see (the search box may hide some).
  for (const card of $('products').children) {
    if (card.hidden) continue;
    const item = items[Number(card.dataset.index)];
    const exposure = {product_id: item.product_id, product_name: item.name, tab_id: tabId,
                      position: position(Number(card.dataset.index)), list_id: `home_tab_${tabId}`};
    if (bug('drop_product_name')) delete exposure.product_name;
    track('product_exposure', exposure);
  }
}

async function selectTab(tab) {
  const previous = state.tabs.find((t) => t.tab_id === state.tabId);
  const click = {tab_id: tab.tab_id, tab_name: bug('wrong_tab_name') ? previous.tab_name : tab.tab_name};
  track('tab_click', click);
  if (bug('duplicate_tab_click')) track('tab_click', click);
  state.tabId = tab.tab_id;
  markSelectedTab();
  settle(false);
  const answer = await api(`/api/tab/${tab.tab_id}`);
  if (state.tabId !== tab.tab_id) return;  // a later click won; it settles the screen
  renderProducts(answer.data.items, tab.tab_id);
  settle(true);
}

// ---- search (client side) ----

function filterList() {
  const keyword = $('q').value.trim().toLowerCase();
  let count = 0;
  for (const card of $('products').children) {
    const item = state.items[Number(card.dataset.index)];
    card.hidden = Boolean(keyword) && !item.name.toLowerCase().includes(keyword);
    if (!card.hidden) count += 1;
  }
  $('empty').hidden = count > 0;
  return count;
}

let searchTimer;
$('q').addEventListener('input', () => {
  clearTimeout(searchTimer);
  // Track once the user pauses typing, not on every keystroke.
  searchTimer = setTimeout(() => {
    const count = filterList();
    const keyword = $('q').value.trim();
    if (keyword) track('search', {keyword, result_count: count});
  }, 300);
});

// ---- product detail ----

let detail = null;

async function openProduct(item, index) {
  track('product_click', {product_id: item.product_id, product_name: item.name, price: item.price,
                          position: position(index)});
  settle(false);
  detail = await api(`/api/product/${encodeURIComponent(item.product_id)}`);
  $('detail-name').textContent = detail.name;
  $('detail-price').textContent = `¥${detail.price}`;
  $('detail-stock').textContent = `${detail.stock} in stock`;
  $('detail-description').textContent = detail.description;
  showView('product');
  track('page_view', {page: 'product', referrer_page: 'home'});
  settle(true);
}

function showView(view) {
  $('home-view').hidden = view !== 'home';
  $('product-view').hidden = view !== 'product';
  window.scrollTo(0, 0);
}

$('back').addEventListener('click', () => {
  showView('home');
  track('page_view', {page: 'home', referrer_page: 'product'});
});
$('detail-add').addEventListener('click', () => addToCart(detail).catch(fail));

// ---- cart ----

let toastTimer;

async function addToCart(product) {
  settle(false);
  const answer = await api('/api/cart', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                         body: JSON.stringify({product_id: product.product_id, qty: 1})});
  $('cart-count').textContent = answer.cart_size;
  if (!bug('missing_add_to_cart')) {
    track('add_to_cart', {
      product_id: product.product_id, product_name: product.name,
      price: bug('price_as_string') ? String(product.price) : product.price,
      quantity: 1, coupon: null,
      items: answer.items.map((i) => ({product_id: i.product_id, qty: i.qty})), cart_size: answer.cart_size,
    });
  }
  $('toast').hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { $('toast').hidden = true; }, 2500);
  settle(true);
}

// ---- popup ----

function showPopup(popup) {
  if (!popup) return;
  $('popup-title').textContent = popup.title;
  $('popup-text').textContent = popup.text;
  $('popup').hidden = false;
}
$('popup-close').addEventListener('click', () => { $('popup').hidden = true; });

// ---- start ----

async function start() {
  settle(false);
  const [home, config, popup] = await Promise.all([api('/api/home'), api('/api/config'), api('/api/popup')]);
  state.tabs = home.data.tabs;
  state.tabId = state.tabs[0].tab_id;  // the home answer's items are the first tab's
  renderTabs();
  track('page_view', {page: 'home', referrer_page: null});
  renderProducts(home.data.items, state.tabId);
  track('ab_exposure', {experiment: config.experiment, bucket: config.bucket});
  showPopup(popup.popups[0]);
  settle(true);
}

start().catch(fail);
