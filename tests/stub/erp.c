/* erp: a small, deterministic ERP API for the demo, shaped like what a
 * Magento 2 shop exchanges with its ERP. Every answer is a pure function
 * of the request (and, on the "new" profile, of the clock for updated_at).
 * The "new" profile differs from "legacy" on purpose; each difference is
 * listed in README.md and marked NEW-DIFF below. Those marked NEW-DIFF
 * (--noise) are pure noise (same meaning, other spelling) and appear only
 * with --noise, so that a raw comparison without --noise shows the real
 * differences alone. */
#include "stub.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ORDER_MAX 100000
#define CUSTOMER_MAX 99999
#define PAGE_SIZE 10
#define PAGE_MAX 10000
#define BASE_EPOCH 1704067200 /* 2024-01-01 00:00:00 UTC */
#define TAX_PERCENT 19

struct product {
    const char *sku, *name;
    long long price; /* cents */
};

/* Magento's Luma sample catalog, prices in EUR cents. */
static const struct product catalog[] = {
    {"24-MB01", "Joust Duffle Bag", 3400},
    {"24-MB04", "Strive Shoulder Pack", 3200},
    {"24-MB03", "Crown Summit Backpack", 3800},
    {"24-MB05", "Wayfarer Messenger Bag", 4500},
    {"24-UG06", "Affirm Water Bottle", 700},
    {"24-UG04", "Zing Jump Rope", 1200},
    {"24-WG02", "Didi Sport Watch", 9200},
    {"24-WB04", "Overnight Duffle", 4500},
    {"MH01-M-Black", "Chaz Kangeroo Hoodie", 5200},
    {"MJ01-L-Red", "Beaumont Summit Kit", 4200},
    {"MS04-S-Blue", "Gobi HeatTec® Tee", 2900},
    {"WP07-28-Black", "Ida Workout Parachute Pant", 4850},
    {"WT09-M-White", "Breathe-Easy Tank", 3400},
    {"24-UG01", "Quest Lumaflex™ Band", 1999},
    {"24-WG085", "Sprite Yoga Strap 6 foot", 1450},
    {"24-WG081", "Sprite Stasis Ball 55 cm", 2399},
};
#define NCATALOG (sizeof catalog / sizeof catalog[0])

static const char *const statuses[] = {"pending", "processing", "complete",
                                       "canceled", "holded"};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

static const char *const first[][2] = {
    {"Anna", "anna"},     {"Lukas", "lukas"},   {"Sophie", "sophie"},
    {"Jürgen", "juergen"}, {"Marie", "marie"}, {"Felix", "felix"},
    {"Chloé", "chloe"},    {"Matteo", "matteo"}, {"Emma", "emma"},
    {"Noah", "noah"},     {"Lena", "lena"},     {"Jonas", "jonas"},
};
static const char *const last[][2] = {
    {"Müller", "mueller"}, {"Schmidt", "schmidt"},
    {"Schneider", "schneider"},   {"Fischer", "fischer"},
    {"Weber", "weber"},           {"Meyer", "meyer"},
    {"Dubois", "dubois"},         {"Rossi", "rossi"},
    {"de Vries", "devries"},      {"Novak", "novak"},
    {"García", "garcia"},  {"Jansen", "jansen"},
};
static const char *const cities[][3] = {
    {"Berlin", "10115", "DE"},     {"München", "80331", "DE"},
    {"Hamburg", "20095", "DE"},    {"Wien", "1010", "AT"},
    {"Amsterdam", "1011", "NL"},   {"Lyon", "69001", "FR"},
    {"Milano", "20121", "IT"},     {"Madrid", "28001", "ES"},
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* splitmix64: cheap, well-mixed, deterministic */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t h2(uint64_t id, uint64_t salt)
{
    return mix(id * 0x100000001b3ull ^ mix(salt));
}

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then mixed */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return mix(h);
}

/* How the answer is written: the profile decides the deliberate drift. */
struct view {
    bool newp;  /* --profile new */
    bool noise; /* --profile new --noise */
    time_t now; /* for updated_at on the new side */
    bool volatile_; /* --volatile */
    long sync_lag_ms; /* --sync-lag-ms (-1: always) */
};

/* A timestamp member. Magento style "YYYY-MM-DD HH:MM:SS" (UTC), except
 * NEW-DIFF (--noise): the new ERP writes the same instant in RFC 3339, in
 * UTC ("2024-01-01T07:18:12Z") when `id` is even, in CET
 * ("2024-01-01T08:18:12+01:00") when it is odd. */
static void jw_ktime(struct jw *j, const struct view *v, const char *k,
                     time_t t, uint64_t id)
{
    struct tm tm;
    char buf[40];
    const char *fmt = "%Y-%m-%d %H:%M:%S";
    if (v->noise && id % 2 == 0) {
        fmt = "%Y-%m-%dT%H:%M:%SZ";
    } else if (v->noise) {
        fmt = "%Y-%m-%dT%H:%M:%S+01:00";
        t += 3600;
    }
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, fmt, &tm);
    jw_key(j, k);
    jw_str(j, buf);
}

/* A member whose value is new on every call (--volatile): a trace id or a
 * generation stamp, as a real ERP writes them; two asks of the same
 * instance disagree on it. */
static void jw_nonce(struct jw *j, const char *k)
{
    static _Atomic uint64_t calls;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = mix(((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                     (++calls << 40) ^ (uint64_t)getpid());
    char buf[24];
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)x);
    jw_key(j, k);
    jw_str(j, buf);
}

/* --sync-lag-ms: is this SKU's stock still unsynced on this instance? A
 * sync job copies stock between the ERPs; until it has run, a read sees
 * the quantity before the last booking (one less). The clock starts at the
 * SKU's first read here, so the first read of a SKU differs from the other
 * side and a read sync_lag_ms later agrees (a transient mismatch); -1: it
 * never catches up (a confirmed one). A fixed table: a SKU whose slot was
 * taken by another starts over, which a test with few SKUs never sees. */
static bool stock_lagging(const struct view *v, uint64_t h)
{
    if (v->sync_lag_ms == 0)
        return false;
    if (v->sync_lag_ms < 0)
        return true;
    enum { SLOTS = 4096 };
    static struct { uint64_t sku; int64_t first_ms; } seen[SLOTS];
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    pthread_mutex_lock(&mu);
    size_t i = (size_t)(h % SLOTS);
    if (seen[i].sku != h || seen[i].first_ms == 0) {
        seen[i].sku = h;
        seen[i].first_ms = now;
    }
    bool lag = now - seen[i].first_ms < v->sync_lag_ms;
    pthread_mutex_unlock(&mu);
    return lag;
}

static void jw_kmoney(struct jw *j, const struct view *v, const char *k,
                      long long cents)
{
    jw_key(j, k);
    jw_money(j, cents, v->newp); /* NEW-DIFF: 45 is written 45.0 */
}

/* ---- customers ------------------------------------------------------------ */

struct customer {
    uint64_t id;
    const char *const *first, *const *last;
    const char *const *city;
    int street_no;
    time_t created;
};

static void customer_make(uint64_t id, struct customer *c)
{
    c->id = id;
    c->first = first[h2(id, 101) % N(first)];
    c->last = last[h2(id, 102) % N(last)];
    c->city = cities[h2(id, 103) % N(cities)];
    c->street_no = 1 + (int)(h2(id, 104) % 120);
    c->created = BASE_EPOCH - 86400 * (time_t)(h2(id, 105) % 900);
}

static void jw_email(struct jw *j, const struct customer *c)
{
    char buf[96];
    snprintf(buf, sizeof buf, "%s.%s.%llu@example.com", c->first[1],
             c->last[1], (unsigned long long)c->id);
    jw_str(j, buf);
}

static void write_customer_brief(struct jw *j, const struct customer *c)
{
    jw_open(j, '{');
    jw_key(j, "id");
    jw_int(j, (long long)c->id);
    jw_key(j, "email");
    jw_email(j, c);
    jw_key(j, "firstname");
    jw_str(j, c->first[0]);
    jw_key(j, "lastname");
    jw_str(j, c->last[0]);
    jw_close(j, '}');
}

static void write_customer(struct jw *j, const struct customer *c,
                           const struct view *v)
{
    char street[64], phone[32];
    snprintf(street, sizeof street, "Hauptstraße %d", c->street_no);
    snprintf(phone, sizeof phone, "+49 30 %07llu",
             (unsigned long long)(h2(c->id, 106) % 10000000));
    jw_open(j, '{');
    jw_key(j, "id");
    jw_int(j, (long long)c->id);
    jw_key(j, "email");
    jw_email(j, c);
    jw_key(j, "firstname");
    jw_str(j, c->first[0]);
    if (!(v->newp && c->id % 2 == 1)) { /* NEW-DIFF: odd ids lose lastname */
        jw_key(j, "lastname");
        jw_str(j, c->last[0]);
    }
    jw_key(j, "group_id");
    jw_int(j, 1);
    jw_key(j, "store_id");
    jw_int(j, 1);
    jw_key(j, "website_id");
    jw_int(j, 1);
    jw_ktime(j, v, "created_at", c->created, c->id);
    jw_key(j, "addresses");
    jw_open(j, '[');
    jw_open(j, '{');
    jw_key(j, "firstname");
    jw_str(j, c->first[0]);
    jw_key(j, "lastname");
    jw_str(j, c->last[0]);
    jw_key(j, "street");
    jw_open(j, '[');
    jw_str(j, street);
    jw_close(j, ']');
    jw_key(j, "city");
    jw_str(j, c->city[0]);
    jw_key(j, "postcode");
    jw_str(j, c->city[1]);
    jw_key(j, "country_id");
    jw_str(j, c->city[2]);
    jw_key(j, "telephone");
    jw_str(j, phone);
    jw_key(j, "default_billing");
    jw_raw(j, "true");
    jw_key(j, "default_shipping");
    jw_raw(j, "true");
    jw_close(j, '}');
    jw_close(j, ']');
    jw_close(j, '}');
}

/* ---- orders ------------------------------------------------------------------ */

struct order {
    uint64_t id, customer;
    const char *status;
    int nitems;
    struct {
        const struct product *p;
        int qty;
        long long row, tax;
    } items[4];
    long long subtotal, tax, shipping, grand;
    time_t created, updated;
};

static const char *order_status(uint64_t id)
{
    return statuses[h2(id, 1) % NSTATUS];
}

static void order_make(uint64_t id, struct order *o)
{
    memset(o, 0, sizeof *o);
    o->id = id;
    o->status = order_status(id);
    o->customer = 1 + h2(id, 2) % CUSTOMER_MAX;
    o->nitems = 1 + (int)(h2(id, 3) % 4);
    for (int i = 0; i < o->nitems; i++) {
        size_t pi = h2(id, 10 + (uint64_t)i) % NCATALOG;
        for (int k = 0; k < i; k++)
            if (o->items[k].p == &catalog[pi]) { /* one line per SKU */
                pi = (pi + 1) % NCATALOG;
                k = -1;
            }
        const struct product *p = &catalog[pi];
        int qty = 1 + (int)(h2(id, 20 + (uint64_t)i) % 3);
        o->items[i].p = p;
        o->items[i].qty = qty;
        o->items[i].row = p->price * qty;
        o->items[i].tax = (o->items[i].row * TAX_PERCENT + 50) / 100;
        o->subtotal += o->items[i].row;
        o->tax += o->items[i].tax;
    }
    o->shipping = o->subtotal >= 10000 ? 0 : 495; /* free from 100 EUR */
    o->grand = o->subtotal + o->tax + o->shipping;
    o->created = BASE_EPOCH + (time_t)id * 600 + (time_t)(h2(id, 4) % 600);
    o->updated = o->created + (time_t)(h2(id, 5) % 172800);
}

static void write_totals(struct jw *j, const struct order *o,
                         const struct view *v)
{
    long long tax = o->tax;
    if (v->newp && o->id % 3 == 0)
        tax += 1; /* NEW-DIFF: rounding drift, grand_total unchanged */
    jw_key(j, "totals");
    jw_open(j, '{');
    jw_kmoney(j, v, "subtotal", o->subtotal);
    jw_kmoney(j, v, "tax", tax);
    jw_kmoney(j, v, "shipping", o->shipping);
    jw_kmoney(j, v, "grand_total", o->grand);
    jw_close(j, '}');
}

static void jw_erp_ref(struct jw *j, const struct view *v, uint64_t id)
{
    char buf[48];
    if (v->noise) /* NEW-DIFF (--noise): the new ERP's own document number */
        snprintf(buf, sizeof buf, "SO%08llu-%06llX", (unsigned long long)id,
                 (unsigned long long)(h2(id, 61) & 0xFFFFFFull));
    else
        snprintf(buf, sizeof buf, "ERP-%06llu-%04llX", (unsigned long long)id,
                 (unsigned long long)(h2(id, 6) & 0xFFFFull));
    jw_key(j, "erp_ref");
    jw_str(j, buf);
}

static void jw_order_ids(struct jw *j, const struct view *v, uint64_t id)
{
    char buf[32];
    jw_key(j, "id");
    jw_int(j, (long long)id);
    snprintf(buf, sizeof buf, "%09llu", (unsigned long long)id);
    jw_key(j, "increment_id");
    jw_str(j, buf);
    jw_erp_ref(j, v, id);
}

static void write_order(struct jw *j, const struct order *o,
                        const struct view *v)
{
    struct customer c;
    customer_make(o->customer, &c);
    jw_open(j, '{');
    jw_order_ids(j, v, o->id);
    jw_key(j, "status");
    jw_str(j, o->status);
    jw_key(j, "currency");
    jw_str(j, "EUR");
    jw_key(j, "customer");
    write_customer_brief(j, &c);
    jw_key(j, "items");
    jw_open(j, '[');
    for (int k = 0; k < o->nitems; k++) {
        /* NEW-DIFF (--noise): the new ERP lists the lines in reverse */
        int i = v->noise ? o->nitems - 1 - k : k;
        jw_open(j, '{');
        jw_key(j, "sku");
        jw_str(j, o->items[i].p->sku);
        jw_key(j, "name");
        jw_str(j, o->items[i].p->name);
        jw_key(j, "qty");
        jw_int(j, o->items[i].qty);
        jw_kmoney(j, v, "price", o->items[i].p->price);
        jw_kmoney(j, v, "row_total", o->items[i].row);
        jw_kmoney(j, v, "tax_amount", o->items[i].tax);
        jw_close(j, '}');
    }
    jw_close(j, ']');
    write_totals(j, o, v);
    jw_ktime(j, v, "created_at", o->created, o->id);
    /* NEW-DIFF: the clock */
    jw_ktime(j, v, "updated_at", v->newp ? v->now : o->updated, o->id);
    jw_close(j, '}');
}

static void write_order_summary(struct jw *j, const struct order *o,
                                const struct view *v)
{
    struct customer c;
    customer_make(o->customer, &c);
    jw_open(j, '{');
    jw_order_ids(j, v, o->id);
    jw_key(j, "status");
    jw_str(j, o->status);
    jw_key(j, "customer_email");
    jw_email(j, &c);
    jw_kmoney(j, v, "grand_total", o->grand);
    jw_ktime(j, v, "created_at", o->created, o->id);
    jw_close(j, '}');
}

/* ---- handlers --------------------------------------------------------------- */

static void not_found(struct jw *j, struct stub_reply *rp)
{
    rp->status = 404;
    jw_open(j, '{');
    jw_key(j, "message");
    jw_str(j, "The entity that was requested doesn't exist. Verify the "
              "entity and try again.");
    jw_close(j, '}');
}

static void get_order(const char *s, size_t n, const struct view *v,
                      struct jw *j, struct stub_reply *rp)
{
    uint64_t id;
    struct order o;
    if (!parse_u64(s, n, ORDER_MAX, &id) || id == 0) {
        not_found(j, rp);
        return;
    }
    order_make(id, &o);
    write_order(j, &o, v);
}

static void get_invoice(const char *s, size_t n, const struct view *v,
                        struct jw *j, struct stub_reply *rp)
{
    uint64_t id;
    struct order o;
    struct customer c;
    char buf[32];
    if (!parse_u64(s, n, ORDER_MAX, &id) || id == 0) {
        not_found(j, rp);
        return;
    }
    order_make(id, &o); /* invoice n bills order n */
    customer_make(o.customer, &c);
    jw_open(j, '{');
    jw_key(j, "id");
    jw_int(j, (long long)id);
    snprintf(buf, sizeof buf, "INV-%09llu", (unsigned long long)id);
    jw_key(j, "increment_id");
    jw_str(j, buf);
    jw_key(j, "order_id");
    jw_int(j, (long long)id);
    snprintf(buf, sizeof buf, "%09llu", (unsigned long long)id);
    jw_key(j, "order_increment_id");
    jw_str(j, buf);
    jw_key(j, "state");
    jw_str(j, h2(id, 7) % 4 == 0 ? "open" : "paid");
    jw_key(j, "currency");
    jw_str(j, "EUR");
    jw_key(j, "billing_email");
    jw_email(j, &c);
    write_totals(j, &o, v);
    jw_ktime(j, v, "created_at", o.created + 86400, id);
    jw_close(j, '}');
}

static const char *const carriers[] = {"dhl", "ups", "dpd"};

/* Shipment n ships order n, in one package (two from two lines on, for
 * about half the orders); line i goes into package i % packages.
 * NEW-DIFF: the new ERP serves it under /v2/logistics/shipments/{id} (not
 * /api/shipments/{id}), nests carrier and number in "tracking", and lists
 * the packages in reverse order. */
static void get_shipment(const char *s, size_t n, const struct view *v,
                         struct jw *j, struct stub_reply *rp)
{
    uint64_t id;
    struct order o;
    char buf[48];
    if (!parse_u64(s, n, ORDER_MAX, &id) || id == 0) {
        not_found(j, rp);
        return;
    }
    order_make(id, &o);
    const char *carrier = carriers[h2(id, 40) % N(carriers)];
    char tracking[40];
    snprintf(tracking, sizeof tracking, "%s%012llu", carrier,
             (unsigned long long)(h2(id, 41) % 1000000000000ull));
    int npk = o.nitems > 1 ? 1 + (int)(h2(id, 42) % 2) : 1;
    jw_open(j, '{');
    jw_key(j, "id");
    jw_int(j, (long long)id);
    snprintf(buf, sizeof buf, "SHIP-%09llu", (unsigned long long)id);
    jw_key(j, "increment_id");
    jw_str(j, buf);
    jw_key(j, "order_id");
    jw_int(j, (long long)id);
    snprintf(buf, sizeof buf, "%09llu", (unsigned long long)id);
    jw_key(j, "order_increment_id");
    jw_str(j, buf);
    if (v->newp) {
        jw_key(j, "tracking");
        jw_open(j, '{');
        jw_key(j, "carrier");
        jw_str(j, carrier);
        jw_key(j, "number");
        jw_str(j, tracking);
        jw_close(j, '}');
    } else {
        jw_key(j, "carrier_code");
        jw_str(j, carrier);
        jw_key(j, "tracking_number");
        jw_str(j, tracking);
    }
    jw_key(j, "packages");
    jw_open(j, '[');
    for (int k = 0; k < npk; k++) {
        int pk = v->newp ? npk - 1 - k : k;
        long long grams = 0;
        for (int i = pk; i < o.nitems; i += npk)
            grams += o.items[i].qty * (100 + (long long)(h2(id, 50 + (uint64_t)i) % 900));
        jw_open(j, '{');
        snprintf(buf, sizeof buf, "PKG-%06llu-%d", (unsigned long long)id, pk + 1);
        jw_key(j, "package_id");
        jw_str(j, buf);
        jw_key(j, "weight_g");
        jw_int(j, grams);
        jw_key(j, "items");
        jw_open(j, '[');
        for (int i = pk; i < o.nitems; i += npk) {
            jw_open(j, '{');
            jw_key(j, "sku");
            jw_str(j, o.items[i].p->sku);
            jw_key(j, "qty");
            jw_int(j, o.items[i].qty);
            jw_close(j, '}');
        }
        jw_close(j, ']');
        jw_close(j, '}');
    }
    jw_close(j, ']');
    jw_ktime(j, v, "created_at", o.created + 2 * 86400, id);
    jw_close(j, '}');
}

static void get_customer(const char *s, size_t n, const struct view *v,
                         struct jw *j, struct stub_reply *rp)
{
    uint64_t id;
    struct customer c;
    if (!parse_u64(s, n, CUSTOMER_MAX, &id) || id == 0) {
        not_found(j, rp);
        return;
    }
    customer_make(id, &c);
    write_customer(j, &c, v);
}

/* 1-64 letters, digits, '-', '.' or '_' */
static bool sku_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
            return false;
    }
    return true;
}

static void get_inventory(const char *s, size_t n, const struct view *v,
                          struct jw *j, struct stub_reply *rp)
{
    if (!sku_ok(s, n)) {
        not_found(j, rp);
        return;
    }
    const struct product *p = NULL;
    for (size_t i = 0; i < NCATALOG && !p; i++)
        if (strlen(catalog[i].sku) == n && memcmp(catalog[i].sku, s, n) == 0)
            p = &catalog[i];
    uint64_t h = hash_str(s, n);
    long long qty = (long long)(h % 150);
    if (qty < 10)
        qty = 0; /* some SKUs are out of stock */
    if (qty > 0 && stock_lagging(v, h))
        qty--; /* --sync-lag-ms: the last booking not synced here yet */
    /* The stock in a header too, so that a HEAD (no body) can differ by
     * the sync lag: the confirmation tests of HEAD compare it. */
    sb_printf(&rp->hdrs, "X-Stock-Qty: %lld\r\n", qty);
    char name[96];
    snprintf(name, sizeof name, "Item %.*s", (int)n, s);
    jw_open(j, '{');
    jw_key(j, "sku");
    jw_strn(j, s, n);
    jw_key(j, "name");
    jw_str(j, p ? p->name : name);
    jw_key(j, "source_code");
    jw_str(j, "default");
    jw_key(j, "qty");
    if (v->newp && s[n - 1] >= '1' && s[n - 1] <= '9' && (s[n - 1] & 1)) {
        char q[24]; /* NEW-DIFF: qty as a string for SKUs ending odd */
        snprintf(q, sizeof q, "%lld", qty);
        jw_str(j, q);
    } else {
        jw_int(j, qty);
    }
    jw_key(j, "is_in_stock");
    jw_raw(j, qty > 0 ? "true" : "false");
    jw_kmoney(j, v, "price", p ? p->price : 500 + (long long)(h % 10000));
    jw_ktime(j, v, "updated_at",
             v->newp ? v->now : BASE_EPOCH + (time_t)((h >> 20) % (365 * 86400)),
             0);
    if (v->volatile_) /* --volatile: new on every call, on either profile */
        jw_nonce(j, "served_nonce");
    jw_close(j, '}');
}

static bool query_get(const char *q, size_t qn, const char *key,
                      const char **val, size_t *vn)
{
    const char *p = q, *end = q + qn;
    size_t kl = strlen(key);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *ke = eq ? eq : e;
        if ((size_t)(ke - p) == kl && memcmp(p, key, kl) == 0) {
            *val = eq ? eq + 1 : e;
            *vn = (size_t)(e - *val);
            return true;
        }
        p = amp ? amp + 1 : end;
    }
    return false;
}

/* GET /api/orders?status=S&page=N over orders 1..ORDER_MAX, newest last. */
static void list_orders(const char *q, size_t qn, const struct view *v,
                        struct jw *j, struct stub_reply *rp)
{
    const char *st = NULL, *pg;
    size_t stn = 0, pgn;
    uint64_t page = 1;
    bool has_status = query_get(q, qn, "status", &st, &stn) && stn > 0;
    if (query_get(q, qn, "page", &pg, &pgn) &&
        (!parse_u64(pg, pgn, PAGE_MAX, &page) || page == 0)) {
        rp->status = 400;
        jw_open(j, '{');
        jw_key(j, "message");
        jw_str(j, "page must be a number from 1 to 10000");
        jw_close(j, '}');
        return;
    }
    uint64_t skip = (page - 1) * PAGE_SIZE, total = 0;
    jw_open(j, '{');
    jw_key(j, "items");
    jw_open(j, '[');
    for (uint64_t id = 1; id <= ORDER_MAX; id++) {
        const char *s = order_status(id);
        if (has_status && !(strlen(s) == stn && memcmp(s, st, stn) == 0))
            continue;
        if (total++ < skip || total > skip + PAGE_SIZE)
            continue;
        struct order o;
        order_make(id, &o);
        write_order_summary(j, &o, v);
    }
    jw_close(j, ']');
    jw_key(j, "search_criteria");
    jw_open(j, '{');
    jw_key(j, "status");
    if (has_status)
        jw_strn(j, st, stn);
    else
        jw_raw(j, "null");
    jw_key(j, "page");
    jw_int(j, (long long)page);
    jw_key(j, "page_size");
    jw_int(j, PAGE_SIZE);
    jw_close(j, '}');
    jw_key(j, "total_count");
    jw_int(j, (long long)total);
    jw_close(j, '}');
}

/* The value of "increment_id":"..." in the posted JSON, if simple. */
static bool find_increment_id(const struct stub_req *r, const char **s,
                              size_t *n)
{
    static const char key[] = "\"increment_id\"";
    const char *b = (const char *)r->body, *end = b + r->body_kept;
    const char *p = r->body_kept ? memmem(b, r->body_kept, key, sizeof key - 1)
                                 : NULL;
    if (!p)
        return false;
    p += sizeof key - 1;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    if (p >= end || *p++ != ':')
        return false;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    if (p >= end || *p++ != '"')
        return false;
    const char *q = p;
    while (q < end && q - p < 64 && *q != '"' && *q != '\\' &&
           (unsigned char)*q >= 0x20)
        q++;
    if (q >= end || *q != '"' || q == p)
        return false;
    *s = p;
    *n = (size_t)(q - p);
    return true;
}

static void post_order(const struct stub_req *r, const struct view *v,
                       struct jw *j, struct stub_reply *rp)
{
    const char *b = (const char *)r->body;
    if (v->newp && !(r->body_kept && memmem(b, r->body_kept,
                                            "\"customer_email\"", 16))) {
        rp->status = 422; /* NEW-DIFF: stricter validation */
        jw_open(j, '{');
        jw_key(j, "message");
        jw_str(j, "\"customer_email\" is required. Enter and try again.");
        jw_key(j, "parameters");
        jw_open(j, '{');
        jw_key(j, "fieldName");
        jw_str(j, "customer_email");
        jw_close(j, '}');
        jw_close(j, '}');
        return;
    }
    /* The id is a function of the body: both sides agree on it. */
    uint64_t h = 0;
    for (int i = 0; i < 15; i++) {
        char c = r->body_hex[i];
        h = h << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    uint64_t id = ORDER_MAX + 1 + h % 900000;
    const char *inc;
    size_t incn;
    char buf[32];
    rp->status = v->noise ? 200 : 201; /* NEW-DIFF (--noise): 200 */
    sb_printf(&rp->hdrs, "Location: /api/orders/%llu\r\n",
              (unsigned long long)id);
    jw_open(j, '{');
    jw_key(j, "id");
    jw_int(j, (long long)id);
    jw_key(j, "increment_id");
    if (find_increment_id(r, &inc, &incn)) {
        jw_strn(j, inc, incn);
    } else {
        snprintf(buf, sizeof buf, "%09llu", (unsigned long long)id);
        jw_str(j, buf);
    }
    jw_erp_ref(j, v, id);
    jw_key(j, "status");
    jw_str(j, "pending");
    jw_key(j, "received_bytes");
    jw_int(j, (long long)r->body_len);
    jw_close(j, '}');
}

static bool method_is(const struct stub_req *r, const char *m)
{
    return strlen(m) == r->method_len && memcmp(r->method, m, r->method_len) == 0;
}

static bool is_get(const struct stub_req *r)
{
    return method_is(r, "GET") || method_is(r, "HEAD");
}

static void not_allowed(struct jw *j, struct stub_reply *rp, const char *allow)
{
    rp->status = 405;
    sb_printf(&rp->hdrs, "Allow: %s\r\n", allow);
    jw_open(j, '{');
    jw_key(j, "message");
    jw_str(j, "Request does not match any route.");
    jw_close(j, '}');
}

/* "/api/<coll>/<id>" with a non-empty id and no further slash. */
static bool match_id(const char *path, size_t n, const char *coll,
                     const char **id, size_t *idn)
{
    size_t cl = strlen(coll);
    if (n <= cl || memcmp(path, coll, cl) != 0 || memchr(path + cl, '/', n - cl))
        return false;
    *id = path + cl;
    *idn = n - cl;
    return true;
}

typedef void (*get_fn)(const char *, size_t, const struct view *, struct jw *,
                       struct stub_reply *);

/* q=0 (0, 0., 0.0, ...) in the parameters p..end of an Accept-Encoding
 * item (after its ';'). */
static bool q_is_zero(const char *p, const char *end)
{
#define SKIP_WS() while (p < end && (*p == ' ' || *p == '\t')) p++
    for (;;) {
        SKIP_WS();
        bool is_q = p < end && (*p == 'q' || *p == 'Q');
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (is_q) {
            p++;
            SKIP_WS();
            if (p < end && *p == '=') {
                p++;
                SKIP_WS();
                if (p == end || *p++ != '0')
                    return false;
                if (p < end && *p == '.')
                    for (p++; p < end && *p == '0'; p++)
                        ;
                SKIP_WS();
                return p == end || *p == ';';
            }
        }
        if (!semi)
            return false;
        p = semi + 1;
    }
#undef SKIP_WS
}

/* Does the request accept gzip (Accept-Encoding: gzip, x-gzip or *, with a
 * q above 0, in any of its Accept-Encoding fields)? */
static bool accepts_gzip(const struct stub_req *r)
{
    for (size_t i = 0; i < r->nh; i++) {
        if (!ascii_ieq(r->h[i].name, r->h[i].name_len, "accept-encoding"))
            continue;
        const char *p = r->h[i].value, *end = p + r->h[i].value_len, *tok;
        size_t tl;
        while (list_next(&p, end, &tok, &tl)) {
            const char *semi = memchr(tok, ';', tl);
            size_t nl = semi ? (size_t)(semi - tok) : tl;
            while (nl && (tok[nl - 1] == ' ' || tok[nl - 1] == '\t'))
                nl--;
            if (!ascii_ieq(tok, nl, "gzip") && !ascii_ieq(tok, nl, "x-gzip") &&
                !ascii_ieq(tok, nl, "*"))
                continue;
            if (!semi || !q_is_zero(semi + 1, tok + tl))
                return true;
        }
    }
    return false;
}

/* Every ERP answer says it depends on Accept-Encoding, and is gzipped when
 * the client accepts gzip: at level 1 on legacy, 9 on new (NEW-DIFF: other
 * bytes on the wire, the same body once decoded). */
static bool erp_done(const struct view *v, const struct stub_req *r,
                     struct stub_reply *rp)
{
    sb_puts(&rp->hdrs, "Vary: Accept-Encoding\r\n");
    if (accepts_gzip(r)) {
        rp->enc = ENC_GZIP;
        rp->level = v->newp ? 9 : 1;
    }
    return true;
}

bool erp_route(const struct stub_cfg *cfg, const struct stub_req *r,
               const char *path, size_t path_len, const char *query,
               size_t query_len, struct stub_reply *rp)
{
    enum { BOTH, LEGACY_ONLY, NEW_ONLY };
    static const struct {
        const char *prefix;
        get_fn fn;
        int only;
    } by_id[] = {
        {"/api/orders/", get_order, BOTH},
        {"/api/inventory/", get_inventory, BOTH},
        {"/api/customers/", get_customer, BOTH},
        {"/api/invoices/", get_invoice, BOTH},
        {"/api/shipments/", get_shipment, LEGACY_ONLY},
        {"/v2/logistics/shipments/", get_shipment, NEW_ONLY},
    };
    bool newp = cfg->profile == PROFILE_NEW;
    struct view v = {newp, newp && cfg->noise, time(NULL), cfg->volatile_, cfg->sync_lag_ms};
    struct jw j;
    const char *id;
    size_t idn;
    jw_init(&j, &rp->body);
    rp->ctype = "application/json";
    if (path_len == 11 && memcmp(path, "/api/orders", 11) == 0) {
        if (is_get(r))
            list_orders(query, query_len, &v, &j, rp);
        else if (method_is(r, "POST"))
            post_order(r, &v, &j, rp);
        else
            not_allowed(&j, rp, "GET, HEAD, POST");
        return erp_done(&v, r, rp);
    }
    for (size_t i = 0; i < N(by_id); i++) {
        if (by_id[i].only == (newp ? LEGACY_ONLY : NEW_ONLY) ||
            !match_id(path, path_len, by_id[i].prefix, &id, &idn))
            continue;
        if (is_get(r))
            by_id[i].fn(id, idn, &v, &j, rp);
        else
            not_allowed(&j, rp, "GET, HEAD");
        return erp_done(&v, r, rp);
    }
    return false;
}
