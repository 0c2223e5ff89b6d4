/*
 * Parcel Handoff card for Home Assistant dashboards: `type: custom:parcel-handoff-card`.
 *
 * A plain web component, no build step. It reads the integration's entities (the stage
 * sensor and the attention binary sensor of each shipment, found through the entity
 * registry the frontend already has) and, for the merged timeline, calls the public
 * `parcel_handoff.get_shipments` action with `return_response`.
 *
 *   type: custom:parcel-handoff-card
 *   entity: sensor.aliexpress_headphones_stage   # one parcel (the shipment's stage sensor)
 *   timeline: true                               # the merged timeline (default true)
 *   timeline_limit: 5                            # events shown before "show all"
 *
 *   type: custom:parcel-handoff-card
 *   mode: list                                   # every active parcel, attention first
 *   show_delivered: false                        # also list delivered/returned parcels
 */

const DOMAIN = "parcel_handoff";
const CARD_TAG = "parcel-handoff-card";
const EDITOR_TAG = "parcel-handoff-card-editor";
const CARD_VERSION = "0.1.0";

// The ordered journey, as the row of stages shows it. Out for delivery and available for
// pickup share a place: a parcel is in one or the other before it is delivered.
const JOURNEY = [
  ["info_received"],
  ["origin_processing"],
  ["in_transit"],
  ["customs"],
  ["last_mile"],
  ["out_for_delivery", "available_for_pickup"],
  ["delivered"],
];
const RANK = Object.fromEntries(
  JOURNEY.flatMap((stages, index) => stages.map((stage) => [stage, index])),
);
const LAST_MILE = RANK.last_mile;
const FINAL_STAGES = new Set(["delivered", "returned"]);
// States off the ordered journey: shown as a badge on the furthest stage reached.
const PROBLEM_STAGES = new Set(["delivery_failed", "exception", "returning", "returned"]);
const SOURCE_NAMES = { cainiao: "Cainiao", usps: "USPS", "17track": "17TRACK", aftership: "AfterShip" };
const STAGE_ICONS = {
  not_found: "mdi:help-circle-outline",
  info_received: "mdi:file-document-outline",
  origin_processing: "mdi:package-variant",
  in_transit: "mdi:airplane",
  customs: "mdi:passport",
  last_mile: "mdi:truck-outline",
  out_for_delivery: "mdi:truck-fast-outline",
  available_for_pickup: "mdi:mailbox-up-outline",
  delivered: "mdi:package-variant-closed-check",
  delivery_failed: "mdi:package-variant-closed-remove",
  exception: "mdi:alert-circle-outline",
  returning: "mdi:keyboard-return",
  returned: "mdi:package-variant-remove",
};

// The card's own words. Stage, reason and action names come from the integration's
// translations through hass.localize; `stage_*` here is only the fallback.
const WORDS = {
  en: {
    now_with: "Now with",
    number: "Tracking number",
    started_as: "Started as {number} with {carrier}",
    handoff: "Handoff",
    handed_over: "Handed over to {carrier}",
    copy: "Copy the number",
    copied: "Copied {number}",
    copy_failed: "Could not copy the number",
    timeline: "Timeline",
    loading: "Loading the timeline…",
    timeline_error: "The timeline could not be loaded.",
    no_events: "No events yet.",
    show_all: "Show all {count}",
    show_less: "Show less",
    via: "via {source}",
    needs_attention: "Needs attention",
    since: "since {date}",
    expected: "Expected {date}",
    order: "Order {number}",
    carrier_unknown: "Carrier not known yet",
    removed: "This parcel is no longer tracked.",
    pick: "Pick a shipment in the card editor.",
    no_parcels: "No parcels under way.",
    parcels: "Parcels",
    unavailable: "No source has answered yet.",
    editor_mode: "Show",
    editor_mode_parcel: "One parcel",
    editor_mode_list: "Every active parcel",
    editor_entity: "Shipment",
    editor_timeline: "Show the timeline",
    editor_timeline_limit: "Events shown before “show all”",
    editor_show_delivered: "Include delivered parcels",
    editor_title: "Title",
    stage_not_found: "Not found",
    stage_info_received: "Info received",
    stage_origin_processing: "Origin processing",
    stage_in_transit: "In transit",
    stage_customs: "Customs",
    stage_last_mile: "Last mile",
    stage_out_for_delivery: "Out for delivery",
    stage_available_for_pickup: "Available for pickup",
    stage_delivered: "Delivered",
    stage_delivery_failed: "Delivery failed",
    stage_exception: "Exception",
    stage_returning: "Returning",
    stage_returned: "Returned",
  },
  de: {
    now_with: "Jetzt bei",
    number: "Sendungsnummer",
    started_as: "Gestartet als {number} bei {carrier}",
    handoff: "Übergabe",
    handed_over: "Übergeben an {carrier}",
    copy: "Nummer kopieren",
    copied: "{number} kopiert",
    copy_failed: "Die Nummer konnte nicht kopiert werden",
    timeline: "Verlauf",
    loading: "Verlauf wird geladen …",
    timeline_error: "Der Verlauf konnte nicht geladen werden.",
    no_events: "Noch keine Ereignisse.",
    show_all: "Alle {count} anzeigen",
    show_less: "Weniger anzeigen",
    via: "über {source}",
    needs_attention: "Braucht Aufmerksamkeit",
    since: "seit {date}",
    expected: "Erwartet {date}",
    order: "Bestellung {number}",
    carrier_unknown: "Versanddienst noch unbekannt",
    removed: "Diese Sendung wird nicht mehr verfolgt.",
    pick: "Wähle im Karteneditor eine Sendung aus.",
    no_parcels: "Keine Sendungen unterwegs.",
    parcels: "Sendungen",
    unavailable: "Noch hat keine Quelle geantwortet.",
    editor_mode: "Anzeigen",
    editor_mode_parcel: "Eine Sendung",
    editor_mode_list: "Alle aktiven Sendungen",
    editor_entity: "Sendung",
    editor_timeline: "Verlauf anzeigen",
    editor_timeline_limit: "Ereignisse vor „Alle anzeigen“",
    editor_show_delivered: "Zugestellte Sendungen einbeziehen",
    editor_title: "Titel",
  },
  fr: {
    now_with: "Actuellement chez",
    number: "Numéro de suivi",
    started_as: "Parti sous le numéro {number} avec {carrier}",
    handoff: "Transfert",
    handed_over: "Confié à {carrier}",
    copy: "Copier le numéro",
    copied: "{number} copié",
    copy_failed: "Impossible de copier le numéro",
    timeline: "Historique",
    loading: "Chargement de l’historique…",
    timeline_error: "L’historique n’a pas pu être chargé.",
    no_events: "Aucun événement pour l’instant.",
    show_all: "Tout afficher ({count})",
    show_less: "Afficher moins",
    via: "via {source}",
    needs_attention: "Requiert votre attention",
    since: "depuis le {date}",
    expected: "Prévu {date}",
    order: "Commande {number}",
    carrier_unknown: "Transporteur encore inconnu",
    removed: "Ce colis n’est plus suivi.",
    pick: "Choisissez un envoi dans l’éditeur de la carte.",
    no_parcels: "Aucun colis en cours d’acheminement.",
    parcels: "Colis",
    unavailable: "Aucune source n’a encore répondu.",
    editor_mode: "Afficher",
    editor_mode_parcel: "Un colis",
    editor_mode_list: "Tous les colis en cours",
    editor_entity: "Envoi",
    editor_timeline: "Afficher l’historique",
    editor_timeline_limit: "Événements affichés avant « Tout afficher »",
    editor_show_delivered: "Inclure les colis livrés",
    editor_title: "Titre",
  },
  es: {
    now_with: "Ahora con",
    number: "Número de seguimiento",
    started_as: "Salió como {number} con {carrier}",
    handoff: "Traspaso",
    handed_over: "Entregado a {carrier}",
    copy: "Copiar el número",
    copied: "{number} copiado",
    copy_failed: "No se pudo copiar el número",
    timeline: "Historial",
    loading: "Cargando el historial…",
    timeline_error: "No se pudo cargar el historial.",
    no_events: "Todavía no hay eventos.",
    show_all: "Mostrar los {count}",
    show_less: "Mostrar menos",
    via: "vía {source}",
    needs_attention: "Requiere atención",
    since: "desde el {date}",
    expected: "Previsto {date}",
    order: "Pedido {number}",
    carrier_unknown: "Transportista aún desconocido",
    removed: "Este paquete ya no se sigue.",
    pick: "Elige un envío en el editor de la tarjeta.",
    no_parcels: "No hay paquetes en camino.",
    parcels: "Paquetes",
    unavailable: "Ninguna fuente ha respondido todavía.",
    editor_mode: "Mostrar",
    editor_mode_parcel: "Un paquete",
    editor_mode_list: "Todos los paquetes activos",
    editor_entity: "Envío",
    editor_timeline: "Mostrar el historial",
    editor_timeline_limit: "Eventos mostrados antes de «Mostrar todos»",
    editor_show_delivered: "Incluir paquetes entregados",
    editor_title: "Título",
  },
  pl: {
    now_with: "Teraz u",
    number: "Numer przesyłki",
    started_as: "Nadana jako {number} u {carrier}",
    handoff: "Przekazanie",
    handed_over: "Przekazana do {carrier}",
    copy: "Kopiuj numer",
    copied: "Skopiowano {number}",
    copy_failed: "Nie udało się skopiować numeru",
    timeline: "Historia",
    loading: "Wczytywanie historii…",
    timeline_error: "Nie udało się wczytać historii.",
    no_events: "Brak zdarzeń.",
    show_all: "Pokaż wszystkie ({count})",
    show_less: "Pokaż mniej",
    via: "przez {source}",
    needs_attention: "Wymaga uwagi",
    since: "od {date}",
    expected: "Spodziewana {date}",
    order: "Zamówienie {number}",
    carrier_unknown: "Przewoźnik jeszcze nieznany",
    removed: "Ta przesyłka nie jest już śledzona.",
    pick: "Wybierz przesyłkę w edytorze karty.",
    no_parcels: "Brak przesyłek w drodze.",
    parcels: "Przesyłki",
    unavailable: "Żadne źródło jeszcze nie odpowiedziało.",
    editor_mode: "Pokaż",
    editor_mode_parcel: "Jedna przesyłka",
    editor_mode_list: "Wszystkie aktywne przesyłki",
    editor_entity: "Przesyłka",
    editor_timeline: "Pokaż historię",
    editor_timeline_limit: "Zdarzenia widoczne przed „Pokaż wszystkie”",
    editor_show_delivered: "Uwzględnij doręczone przesyłki",
    editor_title: "Tytuł",
  },
  "pt-BR": {
    now_with: "Agora com",
    number: "Código de rastreio",
    started_as: "Começou como {number} com {carrier}",
    handoff: "Transferência",
    handed_over: "Entregue à {carrier}",
    copy: "Copiar o código",
    copied: "{number} copiado",
    copy_failed: "Não foi possível copiar o código",
    timeline: "Histórico",
    loading: "Carregando o histórico…",
    timeline_error: "Não foi possível carregar o histórico.",
    no_events: "Nenhum evento ainda.",
    show_all: "Mostrar todos os {count}",
    show_less: "Mostrar menos",
    via: "via {source}",
    needs_attention: "Precisa de atenção",
    since: "desde {date}",
    expected: "Previsto para {date}",
    order: "Pedido {number}",
    carrier_unknown: "Transportadora ainda desconhecida",
    removed: "Esta encomenda não é mais rastreada.",
    pick: "Escolha uma remessa no editor do cartão.",
    no_parcels: "Nenhuma encomenda a caminho.",
    parcels: "Encomendas",
    unavailable: "Nenhuma fonte respondeu ainda.",
    editor_mode: "Mostrar",
    editor_mode_parcel: "Uma encomenda",
    editor_mode_list: "Todas as encomendas ativas",
    editor_entity: "Remessa",
    editor_timeline: "Mostrar o histórico",
    editor_timeline_limit: "Eventos mostrados antes de “Mostrar todos”",
    editor_show_delivered: "Incluir encomendas entregues",
    editor_title: "Título",
  },
  he: {
    now_with: "כעת אצל",
    number: "מספר מעקב",
    started_as: "יצא כ־{number} עם {carrier}",
    handoff: "העברה",
    handed_over: "הועבר אל {carrier}",
    copy: "העתקת המספר",
    copied: "{number} הועתק",
    copy_failed: "לא ניתן היה להעתיק את המספר",
    timeline: "ציר זמן",
    loading: "טוען את ציר הזמן…",
    timeline_error: "לא ניתן היה לטעון את ציר הזמן.",
    no_events: "אין עדיין אירועים.",
    show_all: "הצגת כל {count}",
    show_less: "הצגת פחות",
    via: "דרך {source}",
    needs_attention: "דורש תשומת לב",
    since: "מאז {date}",
    expected: "צפוי {date}",
    order: "הזמנה {number}",
    carrier_unknown: "המוביל עדיין לא ידוע",
    removed: "החבילה הזו כבר אינה במעקב.",
    pick: "יש לבחור משלוח בעורך הכרטיס.",
    no_parcels: "אין חבילות בדרך.",
    parcels: "חבילות",
    unavailable: "אף מקור עדיין לא ענה.",
    editor_mode: "הצגה",
    editor_mode_parcel: "חבילה אחת",
    editor_mode_list: "כל החבילות הפעילות",
    editor_entity: "משלוח",
    editor_timeline: "הצגת ציר הזמן",
    editor_timeline_limit: "אירועים המוצגים לפני „הצגת הכול”",
    editor_show_delivered: "כולל חבילות שנמסרו",
    editor_title: "כותרת",
  },
};

/** The card's language: the user's, else its base language, else English. */
function resolveLanguage(language) {
  const wanted = String(language || "en");
  if (WORDS[wanted]) return wanted;
  const base = wanted.split(/[-_]/)[0].toLowerCase();
  if (WORDS[base]) return base;
  if (base === "pt") return "pt-BR";
  return "en";
}

function userLanguage(hass) {
  return (hass && (hass.locale?.language || hass.language)) || "en";
}

/** One of the card's own words in the user's language, placeholders filled. */
function word(hass, key, values = {}) {
  const table = WORDS[resolveLanguage(userLanguage(hass))];
  const text = table[key] ?? WORDS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));
}

function localize(hass, key) {
  try {
    return (hass && typeof hass.localize === "function" && hass.localize(key)) || "";
  } catch (_err) {
    return "";
  }
}

/** A stage's name from the integration's translations (the stage sensor's states). */
function stageName(hass, stage) {
  if (!stage) return "";
  return (
    localize(hass, `component.${DOMAIN}.entity.sensor.stage.state.${stage}`) ||
    word(hass, `stage_${stage}`)
  );
}

function attentionText(hass, attribute, value) {
  if (!value) return "";
  return (
    localize(
      hass,
      `component.${DOMAIN}.entity.binary_sensor.attention.state_attributes.${attribute}.state.${value}`,
    ) || String(value).replace(/_/g, " ")
  );
}

function escapeHtml(value) {
  return String(value ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

function timeZone(hass) {
  return hass?.locale?.time_zone === "server" ? hass?.config?.time_zone : undefined;
}

function formatTime(hass, iso, options) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return "";
  try {
    return new Intl.DateTimeFormat(userLanguage(hass), { ...options, timeZone: timeZone(hass) }).format(
      date,
    );
  } catch (_err) {
    return date.toLocaleString();
  }
}

const DATE_TIME = { dateStyle: "medium", timeStyle: "short" };
const DATE_ONLY = { dateStyle: "medium" };

function formatEta(hass, attributes) {
  const { eta_earliest: earliest, eta_latest: latest } = attributes;
  if (!earliest && !latest) return "";
  const first = formatTime(hass, earliest || latest, DATE_ONLY);
  const last = formatTime(hass, latest || earliest, DATE_ONLY);
  return first === last ? first : `${first} – ${last}`;
}

// --- finding the integration's entities ------------------------------------------------

let indexCache = { entities: null, index: null };

/** The shipments' entities, from the entity registry the frontend keeps (hass.entities). */
function shipmentIndex(hass) {
  const entities = hass?.entities;
  if (!entities) return { stages: [], attentionByDevice: {} };
  if (indexCache.entities === entities) return indexCache.index;
  const stages = [];
  const attentionByDevice = {};
  for (const entry of Object.values(entities)) {
    if (entry.platform !== DOMAIN) continue;
    if (entry.translation_key === "stage" && entry.entity_id.startsWith("sensor.")) {
      stages.push(entry);
    } else if (
      entry.translation_key === "attention" &&
      entry.entity_id.startsWith("binary_sensor.") &&
      entry.device_id
    ) {
      attentionByDevice[entry.device_id] = entry.entity_id;
    }
  }
  const index = { stages, attentionByDevice };
  indexCache = { entities, index };
  return index;
}

function deviceName(hass, deviceId) {
  const device = deviceId && hass.devices?.[deviceId];
  return device ? device.name_by_user || device.name || "" : "";
}

/** What the card shows of one shipment, from its entities' states. */
function parcelFromStates(hass, entityId) {
  const state = hass.states?.[entityId];
  if (!state) return null;
  const registry = hass.entities?.[entityId];
  const deviceId = registry?.device_id;
  const attentionId = deviceId ? shipmentIndex(hass).attentionByDevice[deviceId] : undefined;
  const attention = attentionId ? hass.states[attentionId] : undefined;
  const attributes = state.attributes || {};
  const available = !["unavailable", "unknown"].includes(state.state);
  return {
    entityId,
    name:
      deviceName(hass, deviceId) ||
      attributes.friendly_name ||
      attributes.tracking_number ||
      entityId,
    available,
    stage: available ? state.state : null,
    attributes,
    lastUpdated: state.last_updated,
    attention:
      attention && attention.state === "on"
        ? {
            entityId: attentionId,
            reason: attention.attributes.reason,
            action: attention.attributes.action,
            since: attention.attributes.since,
          }
        : null,
  };
}

/** Every shipment the entities know, for the list (attention first, then progress). */
function allParcels(hass, { showDelivered = false } = {}) {
  return shipmentIndex(hass)
    .stages.map((entry) => parcelFromStates(hass, entry.entity_id))
    .filter((parcel) => parcel && (showDelivered || !FINAL_STAGES.has(parcel.stage)))
    .sort(
      (a, b) =>
        Number(Boolean(b.attention)) - Number(Boolean(a.attention)) ||
        (RANK[b.stage] ?? -1) - (RANK[a.stage] ?? -1) ||
        a.name.localeCompare(b.name),
    );
}

// --- the merged timeline, from parcel_handoff.get_shipments -----------------------------

/**
 * One shared store for every card on the page: a single get_shipments call answers all
 * of them, made again when a shipment's state changed (its stage sensor's last_updated).
 */
class TimelineStore {
  constructor() {
    this.listeners = new Set();
    this.byNumber = new Map();
    this.signature = null;
    this.loading = null;
    this.error = null;
    this.entryId = null;
    this.pending = false;
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  lookup(trackingNumber) {
    return this.byNumber.get(trackingNumber);
  }

  /** Fetch again when the shipments changed since the last answer. */
  refresh(hass) {
    const { stages } = shipmentIndex(hass);
    const signature = stages.map((e) => `${e.entity_id}@${hass.states[e.entity_id]?.last_updated}`).join("|");
    if (signature === this.signature) return;
    if (this.loading) {
      this.pending = true;
      return;
    }
    this.signature = signature;
    this.loading = this._fetch(hass)
      .then(() => {
        this.error = null;
      })
      .catch((err) => {
        this.error = err;
        this.entryId = null; // the entry may have been re-added: look it up again
      })
      .finally(() => {
        this.loading = null;
        this._notify();
        if (this.pending) {
          this.pending = false;
          this.refresh(hass);
        }
      });
  }

  async _fetch(hass) {
    if (!this.entryId) {
      const entries = await hass.callWS({ type: "config_entries/get", domain: DOMAIN });
      const entry = entries.find((item) => item.state === "loaded") || entries[0];
      if (!entry) throw new Error("Parcel Handoff is not set up");
      this.entryId = entry.entry_id;
    }
    const answer = await hass.callWS({
      type: "call_service",
      domain: DOMAIN,
      service: "get_shipments",
      service_data: { config_entry_id: this.entryId },
      return_response: true,
    });
    const shipments = answer?.response?.shipments || [];
    this.byNumber = new Map(shipments.map((shipment) => [shipment.tracking_number, shipment]));
  }

  _notify() {
    for (const listener of this.listeners) listener();
  }
}

const timelines = new TimelineStore();

/** Where the handoff sits on the row: before the stage of the first local-number event. */
function handoffIndex(parcel, shipment) {
  const { local_tracking_number: local, local_carrier: localCarrier } = parcel.attributes;
  const tracking = parcel.attributes.tracking_number;
  const newNumber = local && local !== tracking;
  if (!newNumber && !(localCarrier && localCarrier !== parcel.attributes.origin_carrier)) {
    return null;
  }
  const events = [...(shipment?.events || [])].sort((a, b) => new Date(a.time) - new Date(b.time));
  const first = events.find((event) =>
    newNumber ? event.tracking_number === local : event.carrier === localCarrier,
  );
  const rank = first ? RANK[first.stage] : undefined;
  return rank === undefined || rank < 1 ? LAST_MILE : rank;
}

/** How far the parcel got: its stage's place, else the furthest event's (problem states). */
function reachedRank(parcel, shipment) {
  if (RANK[parcel.stage] !== undefined) return RANK[parcel.stage];
  let best = -1;
  for (const event of shipment?.events || []) {
    const rank = RANK[event.stage];
    if (rank !== undefined && rank > best) best = rank;
  }
  return best;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_err) {
    // Plain http (not localhost) has no clipboard API: the old way still works there.
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } catch (_err) {
    copied = false;
  }
  area.remove();
  return copied;
}

const STYLES = `
  :host { display: block; }
  ha-card { display: block; container-type: inline-size; padding: 16px; color: var(--primary-text-color); }
  .header { display: flex; align-items: center; gap: 12px; }
  .header .icon { color: var(--state-icon-color, var(--primary-color)); flex: none; }
  .header .titles { flex: 1; min-width: 0; }
  .name { font-size: 1.15em; font-weight: 500; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .subtitle { color: var(--secondary-text-color); font-size: 0.9em; }
  .badge { display: inline-flex; align-items: center; gap: 4px; border-radius: 12px; padding: 2px 10px;
    font-size: 0.85em; font-weight: 500; white-space: nowrap;
    background: rgba(var(--rgb-primary-color, 3, 169, 244), 0.15); color: var(--primary-color); }
  .badge.problem { background: rgba(var(--rgb-error-color, 219, 68, 55), 0.15); color: var(--error-color, #db4437); }
  .badge.done { background: rgba(var(--rgb-success-color, 67, 160, 71), 0.15); color: var(--success-color, #43a047); }
  .stages { display: flex; list-style: none; margin: 20px 0 8px; padding: 0; }
  .stage { flex: 1 1 0; min-width: 0; position: relative; text-align: center;
    font-size: 0.75em; color: var(--secondary-text-color); }
  .stage .dot { display: block; width: 14px; height: 14px; border-radius: 50%; margin: 0 auto 6px; position: relative; z-index: 1;
    box-sizing: border-box; border: 2px solid var(--divider-color, #ccc); background: var(--card-background-color, #fff); }
  .stage::before { content: ""; position: absolute; top: 6px; height: 2px; inset-inline-start: -50%; width: 100%;
    background: var(--divider-color, #ccc); }
  .stage:first-child::before { display: none; }
  .stage.done::before, .stage.current::before { background: var(--primary-color); }
  .stage.done .dot { background: var(--primary-color); border-color: var(--primary-color); }
  .stage.current .dot { width: 20px; height: 20px; margin-top: -3px; margin-bottom: 3px;
    border: 4px solid var(--primary-color); background: var(--card-background-color, #fff); }
  .stage.current { color: var(--primary-text-color); font-weight: 600; }
  .stage.current.problem .dot { border-color: var(--error-color, #db4437); }
  .stage .label { display: block; padding: 0 2px; overflow-wrap: break-word; hyphens: auto; }
  .stage .handoff { position: absolute; top: -3px; inset-inline-start: -10px; z-index: 2; color: var(--warning-color, #ffa600);
    --mdc-icon-size: 20px; background: var(--card-background-color, #fff); border-radius: 50%; line-height: 0; }
  .holder { display: flex; align-items: center; gap: 8px; margin-top: 12px;
    padding: 8px 12px; border-radius: 8px; background: var(--secondary-background-color, rgba(127, 127, 127, 0.08)); }
  .holder .who { flex: 1 1 0; min-width: 0; }
  .holder .caption { color: var(--secondary-text-color); font-size: 0.8em; }
  .holder .carrier { font-weight: 500; }
  .number { font-family: var(--code-font-family, monospace); font-size: 0.95em; overflow-wrap: anywhere; }
  .origin { color: var(--secondary-text-color); font-size: 0.8em; margin-top: 2px; }
  button { font: inherit; color: inherit; }
  .copy { border: none; background: none; cursor: pointer; padding: 6px; border-radius: 50%; line-height: 0;
    color: var(--secondary-text-color); flex: none; }
  .copy:hover, .copy:focus-visible { background: rgba(127, 127, 127, 0.15); color: var(--primary-color); outline: none; }
  .attention { display: flex; gap: 10px; align-items: flex-start; margin-top: 12px; padding: 10px 12px; border-radius: 8px;
    background: rgba(var(--rgb-warning-color, 255, 166, 0), 0.15); color: var(--primary-text-color);
    border-inline-start: 4px solid var(--warning-color, #ffa600); }
  .attention ha-icon { color: var(--warning-color, #ffa600); flex: none; }
  .attention .reason { font-weight: 600; }
  .attention .advice, .attention .since { font-size: 0.9em; }
  .attention .since { color: var(--secondary-text-color); }
  .facts { display: flex; flex-wrap: wrap; gap: 4px 16px; margin-top: 10px; font-size: 0.85em; color: var(--secondary-text-color); }
  h3 { font-size: 0.95em; font-weight: 500; margin: 16px 0 6px; color: var(--secondary-text-color); }
  .timeline { list-style: none; margin: 0; padding: 0; }
  .event { display: grid; grid-template-columns: 12px 1fr; gap: 0 10px; position: relative; padding-bottom: 10px; }
  .event::before { content: ""; position: absolute; inset-inline-start: 5px; top: 12px; bottom: 0; width: 2px;
    background: var(--divider-color, #ccc); }
  .event:last-child::before { display: none; }
  .event .mark { width: 12px; height: 12px; border-radius: 50%; margin-top: 3px; background: var(--divider-color, #ccc); }
  .event.first .mark { background: var(--primary-color); }
  .event.handoff .mark { background: var(--warning-color, #ffa600); }
  .event .what { font-size: 0.95em; overflow-wrap: anywhere; }
  .event .meta { font-size: 0.8em; color: var(--secondary-text-color); display: flex; flex-wrap: wrap; gap: 2px 8px; }
  .source { border-radius: 8px; padding: 0 6px; font-size: 0.75rem; background: rgba(127, 127, 127, 0.15);
    color: var(--primary-text-color); }
  .handoff-tag { color: var(--warning-color, #ffa600); font-weight: 600; }
  .more { border: none; background: none; color: var(--primary-color); cursor: pointer; padding: 4px 0; font-size: 0.9em; }
  .note { color: var(--secondary-text-color); padding: 4px 0; }
  .list-title { font-size: 1.15em; font-weight: 500; margin-bottom: 8px; }
  .rows { list-style: none; margin: 0; padding: 0; }
  .row { display: grid; grid-template-columns: auto 1fr auto; gap: 2px 12px; align-items: center;
    padding: 8px 0; border-top: 1px solid var(--divider-color, #ddd); }
  .row:first-child { border-top: none; }
  .row .icon { color: var(--state-icon-color, var(--primary-color)); grid-row: span 2; }
  .row.attention-on .icon { color: var(--warning-color, #ffa600); }
  .row .line1 { display: flex; align-items: baseline; gap: 8px; min-width: 0; }
  .row .parcel-name { font-weight: 500; cursor: pointer; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
    background: none; border: none; padding: 0; text-align: start; }
  .row .stage-name { color: var(--secondary-text-color); font-size: 0.9em; white-space: nowrap; }
  .row .line2 { display: flex; align-items: center; gap: 8px; grid-column: 2; min-width: 0; font-size: 0.85em;
    color: var(--secondary-text-color); }
  .row .warn { color: var(--warning-color, #ffa600); font-weight: 500; }
  .row .line2 > span:not(.bar) { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; }
  .row .line2 .number { flex: 1 1 0; }
  .row .copy { grid-row: span 2; }
  .bar { display: flex; gap: 2px; width: 84px; flex: none; }
  .bar span { flex: 1; height: 4px; border-radius: 2px; background: var(--divider-color, #ccc); }
  .bar span.on { background: var(--primary-color); }
  .bar.problem span.on { background: var(--error-color, #db4437); }
  /* Narrow cards (a dashboard column, a phone): labels alternate below and above the
     row, so each gets the width of two stages and every stage keeps its name. */
  @container (max-width: 440px) {
    .stages { margin: 40px 0 36px; }
    .stage .label { position: absolute; top: 22px; width: 200%; inset-inline-start: -50%; line-height: 1.2; }
    .stage:nth-child(even) .label { top: auto; bottom: 22px; }
    .stage:first-child .label { inset-inline-start: 0; width: 150%; text-align: start; }
    .stage:last-child .label { inset-inline-start: auto; inset-inline-end: 0; width: 150%; text-align: end; }
    .stage.current .dot { margin-bottom: 3px; }
    .bar { width: 56px; }
  }
`;

class ParcelHandoffCard extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._config = null;
    this._hass = null;
    this._renderedKey = null;
    this._expanded = false;
    this._unsubscribe = null;
    this.shadowRoot.addEventListener("click", (ev) => this._onClick(ev));
  }

  static getConfigElement() {
    return document.createElement(EDITOR_TAG);
  }

  static getStubConfig(hass) {
    const first = shipmentIndex(hass).stages[0];
    return first ? { entity: first.entity_id } : { mode: "list" };
  }

  setConfig(config) {
    if (!config || typeof config !== "object") throw new Error("Invalid configuration");
    const mode = config.mode || (config.entity ? "parcel" : "list");
    if (!["parcel", "list"].includes(mode)) {
      throw new Error(`mode must be "parcel" or "list", not "${config.mode}"`);
    }
    if (config.entity !== undefined && typeof config.entity !== "string") {
      throw new Error("entity must be the entity ID of a shipment's stage sensor");
    }
    const limit = config.timeline_limit === undefined ? 5 : Number(config.timeline_limit);
    if (!Number.isInteger(limit) || limit < 1) throw new Error("timeline_limit must be a whole number ≥ 1");
    this._config = {
      timeline: true,
      show_delivered: false,
      ...config,
      mode,
      timeline_limit: limit,
    };
    this._renderedKey = null;
    this._render();
  }

  set hass(hass) {
    this._hass = hass;
    if (this._wantsTimeline()) timelines.refresh(hass);
    this._render();
  }

  get hass() {
    return this._hass;
  }

  connectedCallback() {
    this._unsubscribe = timelines.subscribe(() => this._render());
    if (this._hass && this._wantsTimeline()) timelines.refresh(this._hass);
    this._render();
  }

  disconnectedCallback() {
    if (this._unsubscribe) this._unsubscribe();
    this._unsubscribe = null;
  }

  getCardSize() {
    if (!this._config) return 3;
    if (this._config.mode === "list") {
      return 1 + (this._hass ? allParcels(this._hass, { showDelivered: this._config.show_delivered }).length : 3);
    }
    return this._config.timeline ? 4 + Math.min(this._config.timeline_limit, 6) : 4;
  }

  getGridOptions() {
    return { columns: 12, min_columns: 6 };
  }

  _wantsTimeline() {
    return Boolean(this._config && this._config.mode === "parcel" && this._config.timeline);
  }

  _render() {
    if (!this._config || !this._hass) return;
    const html =
      this._config.mode === "list" ? this._renderList(this._hass) : this._renderParcel(this._hass);
    const key = `${html}`;
    if (key === this._renderedKey) return; // nothing shown changed: keep the DOM (and focus)
    this._renderedKey = key;
    this.shadowRoot.innerHTML = `<style>${STYLES}</style>${html}`;
  }

  _renderParcel(hass) {
    const config = this._config;
    if (!config.entity) {
      return `<ha-card><div class="note">${escapeHtml(word(hass, "pick"))}</div></ha-card>`;
    }
    const parcel = parcelFromStates(hass, config.entity);
    if (!parcel) {
      return `<ha-card class="removed"><div class="note">${escapeHtml(config.title || "")}
        ${escapeHtml(word(hass, "removed"))}</div></ha-card>`;
    }
    const name = config.title || parcel.name;
    if (!parcel.available) {
      return `<ha-card><div class="header"><ha-icon class="icon" icon="mdi:package-variant"></ha-icon>
        <div class="titles"><div class="name">${escapeHtml(name)}</div>
        <div class="subtitle">${escapeHtml(word(hass, "unavailable"))}</div></div></div></ha-card>`;
    }
    const shipment = timelines.lookup(parcel.attributes.tracking_number);
    return `<ha-card data-entity="${escapeHtml(parcel.entityId)}">
      ${this._header(hass, parcel, name)}
      ${this._stageRow(hass, parcel, shipment)}
      ${this._holder(hass, parcel)}
      ${this._attention(hass, parcel)}
      ${this._facts(hass, parcel)}
      ${config.timeline ? this._timeline(hass, parcel, shipment) : ""}
    </ha-card>`;
  }

  _header(hass, parcel, name) {
    const stage = parcel.stage;
    const tone = PROBLEM_STAGES.has(stage) ? "problem" : FINAL_STAGES.has(stage) ? "done" : "";
    return `<div class="header">
      <ha-icon class="icon" icon="${STAGE_ICONS[stage] || "mdi:package-variant"}"></ha-icon>
      <div class="titles">
        <div class="name" data-more-info="${escapeHtml(parcel.entityId)}">${escapeHtml(name)}</div>
        ${parcel.attributes.latest_event ? `<div class="subtitle">${escapeHtml(parcel.attributes.latest_event)}</div>` : ""}
      </div>
      <span class="badge stage-badge ${tone}" data-stage="${escapeHtml(stage)}">${escapeHtml(stageName(hass, stage))}</span>
    </div>`;
  }

  _stageRow(hass, parcel, shipment) {
    const reached = reachedRank(parcel, shipment);
    const handoff = handoffIndex(parcel, shipment);
    const problem = PROBLEM_STAGES.has(parcel.stage);
    const steps = JOURNEY.map((stages, index) => {
      const shown = stages.includes(parcel.stage) ? parcel.stage : stages[0];
      const state = index < reached ? "done" : index === reached ? "current" : "todo";
      const marker =
        handoff === index
          ? `<span class="handoff" title="${escapeHtml(word(hass, "handoff"))}"><ha-icon icon="mdi:swap-horizontal-circle"></ha-icon></span>`
          : "";
      return `<li class="stage ${state}${state === "current" && problem ? " problem" : ""}" data-stage="${shown}"
        ${state === "current" ? 'aria-current="step"' : ""}>${marker}<span class="dot"></span>
        <span class="label">${escapeHtml(stageName(hass, shown))}</span></li>`;
    });
    return `<ol class="stages">${steps.join("")}</ol>`;
  }

  _holder(hass, parcel) {
    const a = parcel.attributes;
    const number = a.local_tracking_number || a.tracking_number;
    const carrier = a.local_carrier || a.carrier;
    const handedOver = a.local_tracking_number && a.local_tracking_number !== a.tracking_number;
    const copyLabel = escapeHtml(word(hass, "copy"));
    return `<div class="holder">
      <div class="who">
        <div class="caption">${escapeHtml(word(hass, "now_with"))}</div>
        <div class="carrier">${escapeHtml(carrier || word(hass, "carrier_unknown"))}</div>
        <div class="number local-number">${escapeHtml(number)}</div>
        ${
          handedOver
            ? `<div class="origin">${escapeHtml(
                word(hass, "started_as", {
                  number: a.tracking_number,
                  carrier: a.origin_carrier || "?",
                }),
              )}</div>`
            : ""
        }
      </div>
      <button class="copy" data-copy="${escapeHtml(number)}" title="${copyLabel}" aria-label="${copyLabel}">
        <ha-icon icon="mdi:content-copy"></ha-icon></button>
    </div>`;
  }

  _attention(hass, parcel) {
    const attention = parcel.attention;
    if (!attention) return "";
    return `<div class="attention" role="status">
      <ha-icon icon="mdi:alert-outline"></ha-icon>
      <div>
        <div class="reason">${escapeHtml(word(hass, "needs_attention"))}: ${escapeHtml(
          attentionText(hass, "reason", attention.reason),
        )}</div>
        <div class="advice">${escapeHtml(attentionText(hass, "action", attention.action))}</div>
        ${
          attention.since
            ? `<div class="since">${escapeHtml(word(hass, "since", { date: formatTime(hass, attention.since, DATE_ONLY) }))}</div>`
            : ""
        }
      </div>
    </div>`;
  }

  _facts(hass, parcel) {
    const a = parcel.attributes;
    const facts = [];
    const eta = FINAL_STAGES.has(parcel.stage) ? "" : formatEta(hass, a);
    if (eta) facts.push(word(hass, "expected", { date: eta }));
    if (a.order_number) facts.push(word(hass, "order", { number: a.order_number }));
    if (!facts.length) return "";
    return `<div class="facts">${facts.map((fact) => `<span>${escapeHtml(fact)}</span>`).join("")}</div>`;
  }

  _timeline(hass, parcel, shipment) {
    const title = `<h3>${escapeHtml(word(hass, "timeline"))}</h3>`;
    if (!shipment) {
      const text = timelines.error && !timelines.loading ? word(hass, "timeline_error") : word(hass, "loading");
      return `${title}<div class="note timeline-status">${escapeHtml(text)}</div>`;
    }
    const events = [...(shipment.events || [])].sort((a, b) => new Date(b.time) - new Date(a.time));
    if (!events.length) return `${title}<div class="note">${escapeHtml(word(hass, "no_events"))}</div>`;
    const local = parcel.attributes.local_tracking_number;
    const handedOver = local && local !== parcel.attributes.tracking_number;
    const firstLocal = handedOver
      ? [...events].reverse().find((event) => event.tracking_number === local)
      : undefined;
    const limit = this._config.timeline_limit;
    const shown = this._expanded ? events : events.slice(0, limit);
    const items = shown.map((event, index) => {
      const isHandoff = event === firstLocal;
      const source = SOURCE_NAMES[event.source] || event.source || "";
      const carrier = event.carrier && event.carrier !== source ? event.carrier : "";
      const meta = [
        `<time datetime="${escapeHtml(event.time)}">${escapeHtml(formatTime(hass, event.time, DATE_TIME))}</time>`,
        event.location ? `<span>${escapeHtml(event.location)}</span>` : "",
        carrier ? `<span>${escapeHtml(carrier)}</span>` : "",
        `<span class="source" title="${escapeHtml(word(hass, "via", { source }))}">${escapeHtml(source)}</span>`,
        isHandoff
          ? `<span class="handoff-tag">${escapeHtml(word(hass, "handed_over", { carrier: parcel.attributes.local_carrier || event.carrier || "" }))}</span>`
          : "",
      ];
      return `<li class="event${index === 0 ? " first" : ""}${isHandoff ? " handoff" : ""}" data-source="${escapeHtml(event.source)}">
        <span class="mark"></span><div><div class="what">${escapeHtml(event.description)}</div>
        <div class="meta">${meta.join("")}</div></div></li>`;
    });
    const toggle =
      events.length > limit
        ? `<button class="more" data-toggle>${escapeHtml(
            this._expanded ? word(hass, "show_less") : word(hass, "show_all", { count: events.length }),
          )}</button>`
        : "";
    return `${title}<ol class="timeline">${items.join("")}</ol>${toggle}`;
  }

  _renderList(hass) {
    const config = this._config;
    const parcels = allParcels(hass, { showDelivered: config.show_delivered });
    const title = config.title === undefined ? word(hass, "parcels") : config.title;
    const head = title ? `<div class="list-title">${escapeHtml(title)}</div>` : "";
    if (!parcels.length) {
      return `<ha-card class="list">${head}<div class="note">${escapeHtml(word(hass, "no_parcels"))}</div></ha-card>`;
    }
    const rows = parcels.map((parcel) => {
      const a = parcel.attributes;
      const number = a.local_tracking_number || a.tracking_number || "";
      const carrier = a.local_carrier || a.carrier || word(hass, "carrier_unknown");
      const reached = reachedRank(parcel, undefined);
      const problem = PROBLEM_STAGES.has(parcel.stage);
      const bar = JOURNEY.map((_s, index) => `<span class="${index <= reached ? "on" : ""}"></span>`).join("");
      const status = parcel.attention
        ? `<span class="warn">${escapeHtml(attentionText(hass, "reason", parcel.attention.reason))}</span>`
        : `<span>${escapeHtml(carrier)}</span>`;
      const copyLabel = escapeHtml(word(hass, "copy"));
      return `<li class="row${parcel.attention ? " attention-on" : ""}" data-entity="${escapeHtml(parcel.entityId)}">
        <ha-icon class="icon" icon="${parcel.attention ? "mdi:alert-outline" : STAGE_ICONS[parcel.stage] || "mdi:package-variant"}"></ha-icon>
        <div class="line1"><button class="parcel-name" data-more-info="${escapeHtml(parcel.entityId)}">${escapeHtml(parcel.name)}</button>
          <span class="stage-name" data-stage="${escapeHtml(parcel.stage || "")}">${escapeHtml(parcel.available ? stageName(hass, parcel.stage) : word(hass, "unavailable"))}</span></div>
        ${number ? `<button class="copy" data-copy="${escapeHtml(number)}" title="${copyLabel}" aria-label="${copyLabel}"><ha-icon icon="mdi:content-copy"></ha-icon></button>` : "<span></span>"}
        <div class="line2"><span class="bar${problem ? " problem" : ""}">${bar}</span>${status}
          <span class="number">${escapeHtml(number)}</span></div>
      </li>`;
    });
    return `<ha-card class="list">${head}<ul class="rows">${rows.join("")}</ul></ha-card>`;
  }

  async _onClick(ev) {
    const copy = ev.target.closest?.("[data-copy]");
    const more = ev.target.closest?.("[data-more-info]");
    const toggle = ev.target.closest?.("[data-toggle]");
    if (copy) {
      const number = copy.dataset.copy;
      const copied = await copyText(number);
      this._toast(copied ? word(this._hass, "copied", { number }) : word(this._hass, "copy_failed"));
    } else if (toggle) {
      this._expanded = !this._expanded;
      this._render();
    } else if (more) {
      this.dispatchEvent(
        new CustomEvent("hass-more-info", {
          detail: { entityId: more.dataset.moreInfo },
          bubbles: true,
          composed: true,
        }),
      );
    }
  }

  _toast(message) {
    this.dispatchEvent(
      new CustomEvent("hass-notification", { detail: { message }, bubbles: true, composed: true }),
    );
  }
}

// --- the card editor --------------------------------------------------------------------

class ParcelHandoffCardEditor extends HTMLElement {
  constructor() {
    super();
    this._config = {};
    this._hass = null;
    this._form = null;
  }

  setConfig(config) {
    this._config = { ...config };
    this._update();
  }

  set hass(hass) {
    this._hass = hass;
    this._update();
  }

  _mode() {
    return this._config.mode || (this._config.entity ? "parcel" : "list");
  }

  _schema() {
    const hass = this._hass;
    const shipments = shipmentIndex(hass).stages.map((entry) => ({
      value: entry.entity_id,
      label: parcelFromStates(hass, entry.entity_id)?.name || entry.entity_id,
    }));
    const mode = {
      name: "mode",
      selector: {
        select: {
          mode: "dropdown",
          options: [
            { value: "parcel", label: word(hass, "editor_mode_parcel") },
            { value: "list", label: word(hass, "editor_mode_list") },
          ],
        },
      },
    };
    if (this._mode() === "list") {
      return [mode, { name: "title", selector: { text: {} } }, { name: "show_delivered", selector: { boolean: {} } }];
    }
    return [
      mode,
      { name: "entity", required: true, selector: { select: { mode: "dropdown", options: shipments } } },
      { name: "title", selector: { text: {} } },
      { name: "timeline", selector: { boolean: {} } },
      { name: "timeline_limit", selector: { number: { min: 1, max: 50, mode: "box" } } },
    ];
  }

  _data() {
    return { timeline: true, timeline_limit: 5, show_delivered: false, ...this._config, mode: this._mode() };
  }

  async _update() {
    if (!this._hass) return;
    if (!customElements.get("ha-form")) {
      // ha-form is loaded lazily by the frontend; the built-in cards' editors bring it.
      await loadFormElements();
    }
    if (!this._form) {
      this._form = document.createElement("ha-form");
      this._form.addEventListener("value-changed", (ev) => this._changed(ev.detail.value));
      this.appendChild(this._form);
    }
    this._form.hass = this._hass;
    this._form.data = this._data();
    this._form.schema = this._schema();
    this._form.computeLabel = (item) => word(this._hass, `editor_${item.name}`);
  }

  _changed(value) {
    const config = { ...this._config, ...value, type: this._config.type || `custom:${CARD_TAG}` };
    if (config.mode === "list") delete config.entity;
    for (const [key, fallback] of Object.entries({ timeline: true, timeline_limit: 5, show_delivered: false })) {
      if (config[key] === fallback) delete config[key];
    }
    if (!config.title) delete config.title;
    this._config = config;
    this.dispatchEvent(new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }));
    this._update();
  }
}

async function loadFormElements() {
  try {
    const helpers = await window.loadCardHelpers?.();
    const card = helpers && (await helpers.createCardElement({ type: "entities", entities: [] }));
    await card?.constructor?.getConfigElement?.();
  } catch (_err) {
    // Without ha-form the editor stays empty; the YAML editor still works.
  }
}

function defineElements() {
  // `customElements` is looked up now, not when this module was parsed (see below).
  if (!customElements.get(CARD_TAG)) customElements.define(CARD_TAG, ParcelHandoffCard);
  if (!customElements.get(EDITOR_TAG)) customElements.define(EDITOR_TAG, ParcelHandoffCardEditor);
}

// The frontend's app installs a scoped custom element registry when it starts, and an
// element defined in the browser's registry before then stays invisible to dashboards
// ("Custom element doesn't exist"). This module can load before the app does: then it
// defines its elements once the app has defined <home-assistant>.
if (document.querySelector("home-assistant") && !customElements.get("home-assistant")) {
  customElements.whenDefined("home-assistant").then(defineElements);
} else {
  defineElements();
}

window.customCards = window.customCards || [];
if (!window.customCards.some((card) => card.type === CARD_TAG)) {
  window.customCards.push({
    type: CARD_TAG,
    name: "Parcel Handoff",
    description: "A parcel's journey across carriers: stages, handoff, who has it, attention and timeline.",
    preview: true,
    documentationURL: "https://github.com/parcel-handoff/parcel-handoff#dashboard-card",
  });
}

console.info(`%c PARCEL-HANDOFF-CARD %c ${CARD_VERSION} `, "color: white; background: #03a9f4", "");
