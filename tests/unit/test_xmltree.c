/* Unit tests for proxy/diff/xmltree.c: the XML → JSON mapping, alignment of two
 * trees, hostile documents (entities, depth, the network), redaction. */
#include "diff/xmltree.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The tree of s, or NULL (then *rc says why). */
static json_t *tree_rc(const char *s, int *rc, xmltree_error *err)
{
    json_t *t = NULL;
    *rc = xmltree_parse((const unsigned char *)s, strlen(s), &t, err);
    return t;
}

static json_t *tree(const char *s)
{
    int rc;
    json_t *t = tree_rc(s, &rc, NULL);
    if (rc != 0)
        fprintf(stderr, "  parse failed (%d): %.60s\n", rc, s);
    return t;
}

/* Does the tree of xml equal the JSON text want? */
static bool tree_is(const char *xml, const char *want)
{
    json_t *t = tree(xml), *w = json_loads(want, 0, NULL);
    bool eq = t && w && json_equal(t, w);
    if (!eq) {
        char *got = t ? json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        fprintf(stderr, "  got  %s\n  want %s\n", got ? got : "(null)", want);
        free(got);
    }
    json_decref(t);
    json_decref(w);
    return eq;
}

static bool same_tree(const char *a, const char *b)
{
    json_t *x = tree(a), *y = tree(b);
    bool eq = x && y && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

/* The value at a JSON Pointer (no escapes needed in these tests). */
static json_t *at(json_t *v, const char *pointer)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", pointer);
    for (char *save = NULL, *p = strtok_r(buf, "/", &save); p && v;
         p = strtok_r(NULL, "/", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, strtoul(p, NULL, 10));
        else
            v = json_object_get(v, p);
    }
    return v;
}

static const char *str_at(json_t *v, const char *pointer)
{
    return json_string_value(at(v, pointer));
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

TEST(basic_mapping)
{
    CHECK(tree_is("<a>x</a>", "{\"a\":\"x\"}"));
    CHECK(tree_is("<a/>", "{\"a\":\"\"}"));
    CHECK(same_tree("<a/>", "<a></a>"));
    CHECK(tree_is("<a k=\"v\">x</a>", "{\"a\":{\"@k\":\"v\",\"#text\":\"x\"}}"));
    CHECK(tree_is("<a k=\"v\"/>", "{\"a\":{\"@k\":\"v\"}}"));
    CHECK(tree_is("<a><b>1</b><c><d>2</d></c></a>",
                  "{\"a\":{\"b\":\"1\",\"c\":{\"d\":\"2\"}}}"));
    /* numbers and booleans stay strings */
    CHECK(tree_is("<a><n>10.00</n><t>true</t></a>",
                  "{\"a\":{\"n\":\"10.00\",\"t\":\"true\"}}"));
}

TEST(prefixes_do_not_count)
{
    const char *a =
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
        "<soap:Body><m:OrderResponse xmlns:m=\"urn:erp\">"
        "<m:Total>10</m:Total></m:OrderResponse></soap:Body></soap:Envelope>";
    const char *b =
        "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\">"
        "<Body><OrderResponse xmlns=\"urn:erp\">"
        "<Total>10</Total></OrderResponse></Body></Envelope>";
    const char *c =
        "<S:Envelope xmlns:S=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "xmlns:erp=\"urn:erp\"><S:Body><erp:OrderResponse>"
        "<erp:Total>10</erp:Total></erp:OrderResponse></S:Body></S:Envelope>";
    CHECK(same_tree(a, b));
    CHECK(same_tree(a, c));
    CHECK(tree_is(a, "{\"Envelope\":{\"@xmlns\":"
                     "\"http://schemas.xmlsoap.org/soap/envelope/\","
                     "\"Body\":{\"OrderResponse\":{\"@xmlns\":\"urn:erp\","
                     "\"Total\":\"10\"}}}}"));
}

TEST(namespace_uri_counts)
{
    json_t *x = tree("<e:R xmlns:e=\"urn:erp:v1\"><e:Total>1</e:Total></e:R>");
    json_t *y = tree("<e:R xmlns:e=\"urn:erp:v2\"><e:Total>1</e:Total></e:R>");
    CHECK(x && y && !json_equal(x, y));
    CHECK_STR(str_at(x, "/R/@xmlns"), "urn:erp:v1");
    CHECK_STR(str_at(y, "/R/@xmlns"), "urn:erp:v2");
    CHECK_STR(str_at(y, "/R/Total"), "1"); /* same namespace: no @xmlns */
    json_decref(x);
    json_decref(y);
    /* unqualified children of a qualified element (SAP style): plain */
    CHECK(tree_is("<n0:Z xmlns:n0=\"urn:sap\"><EV_TOTAL>5</EV_TOTAL></n0:Z>",
                  "{\"Z\":{\"@xmlns\":\"urn:sap\",\"EV_TOTAL\":\"5\"}}"));
    /* a namespace that starts below an unqualified parent is recorded */
    CHECK(tree_is("<a><b xmlns=\"urn:x\">1</b></a>",
                  "{\"a\":{\"b\":{\"@xmlns\":\"urn:x\",\"#text\":\"1\"}}}"));
    /* an undeclared prefix still gives the local name */
    CHECK(tree_is("<p:a><p:b>1</p:b></p:a>", "{\"a\":{\"b\":\"1\"}}"));
}

TEST(attribute_order_and_names)
{
    CHECK(same_tree("<a x=\"1\" y=\"2\" z=\"3\"/>", "<a z=\"3\" x=\"1\" y=\"2\"/>"));
    CHECK(same_tree("<a xmlns:p=\"u\" p:x=\"1\"/>", "<a xmlns:q=\"u\" q:x=\"1\"/>"));
    /* same local name, other namespaces: the plain one keeps "@id", the
     * namespaced ones are told apart by URI, whatever the order */
    const char *one = "<a xmlns:p=\"u1\" xmlns:q=\"u2\" p:id=\"1\" id=\"3\" q:id=\"2\"/>";
    const char *two = "<a xmlns:p=\"u1\" xmlns:q=\"u2\" id=\"3\" q:id=\"2\" p:id=\"1\"/>";
    CHECK(same_tree(one, two));
    CHECK(tree_is(one, "{\"a\":{\"@id\":\"3\",\"@{u1}id\":\"1\",\"@{u2}id\":\"2\"}}"));
    /* xsi:nil is just an attribute */
    CHECK(tree_is("<a xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                  "xsi:nil=\"true\"/>",
                  "{\"a\":{\"@nil\":\"true\"}}"));
}

TEST(whitespace_and_indentation)
{
    const char *compact = "<Order><Id>7</Id><Lines><Line><Sku>A</Sku>"
                          "<Qty>1</Qty></Line></Lines><Note>two  spaces</Note>"
                          "</Order>";
    const char *pretty = "<?xml version=\"1.0\"?>\n<Order>\n  <Id> 7 </Id>\n"
                         "  <Lines>\n    <Line>\n      <Sku>A</Sku>\n"
                         "      <Qty>\n        1\n      </Qty>\n    </Line>\n"
                         "  </Lines>\r\n\t<Note>two  spaces</Note>\n</Order>\n";
    CHECK(same_tree(compact, pretty));
    json_t *t = tree(pretty);
    CHECK_STR(str_at(t, "/Order/Note"), "two  spaces"); /* inner kept */
    json_decref(t);
    /* but text that really differs does */
    CHECK(!same_tree("<a>x y</a>", "<a>x  y</a>"));
}

TEST(different_text_at_precise_path)
{
    const char *fmt =
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
        "<soap:Body><OrderResponse><Id>100001</Id><Total>%s</Total>"
        "<Currency>EUR</Currency></OrderResponse></soap:Body></soap:Envelope>";
    char a[512], b[512];
    snprintf(a, sizeof a, fmt, "19.99");
    snprintf(b, sizeof b, fmt, "20.00");
    json_t *x = tree(a), *y = tree(b);
    CHECK_STR(str_at(x, "/Envelope/Body/OrderResponse/Total"), "19.99");
    CHECK_STR(str_at(y, "/Envelope/Body/OrderResponse/Total"), "20.00");
    CHECK(!json_equal(x, y));
    /* nothing else differs */
    json_object_set_new(at(y, "/Envelope/Body/OrderResponse"), "Total",
                        json_string("19.99"));
    CHECK(json_equal(x, y));
    json_decref(x);
    json_decref(y);
}

TEST(repeated_elements)
{
    const char *two = "<Items><Item><Sku>A</Sku><Price>1</Price></Item>"
                      "<Other>x</Other><Item><Sku>B</Sku><Price>2</Price></Item>"
                      "</Items>";
    json_t *t = tree(two);
    CHECK(json_is_array(at(t, "/Items/Item")));
    CHECK(json_array_size(at(t, "/Items/Item")) == 2);
    CHECK_STR(str_at(t, "/Items/Item/0/Price"), "1");
    CHECK_STR(str_at(t, "/Items/Item/1/Sku"), "B"); /* document order */
    CHECK_STR(str_at(t, "/Items/Other"), "x");
    json_t *one = tree("<Items><Item><Sku>A</Sku><Price>1</Price></Item>"
                       "<Other>x</Other></Items>");
    CHECK(json_is_object(at(one, "/Items/Item"))); /* one is not wrapped */
    CHECK_STR(str_at(one, "/Items/Item/Price"), "1");
    /* aligned with a side that repeats: an array of one */
    CHECK(xmltree_align(one, t) == 0);
    CHECK(json_is_array(at(one, "/Items/Item")));
    CHECK(json_array_size(at(one, "/Items/Item")) == 1);
    CHECK_STR(str_at(one, "/Items/Item/0/Price"), "1");
    CHECK(json_array_size(at(t, "/Items/Item")) == 2); /* other side as is */
    json_decref(t);
    json_decref(one);
    /* repeated text-only elements */
    CHECK(tree_is("<a><v>1</v><v>2</v><v/></a>",
                  "{\"a\":{\"v\":[\"1\",\"2\",\"\"]}}"));
}

TEST(align_text_against_object)
{
    json_t *x = tree("<a><Price>10</Price><e/><Items><I>1</I><I>2</I></Items>"
                     "<k>same</k></a>");
    json_t *y = tree("<a><Price currency=\"EUR\">10</Price><e n=\"1\"/>"
                     "<Items><I>1</I><I z=\"1\">2</I></Items><k>same</k></a>");
    CHECK(xmltree_align(x, y) == 0);
    json_t *want_x = json_loads(
        "{\"a\":{\"Price\":{\"#text\":\"10\"},\"e\":{},"
        "\"Items\":{\"I\":[\"1\",{\"#text\":\"2\"}]},\"k\":\"same\"}}", 0, NULL);
    CHECK(json_equal(x, want_x));
    CHECK_STR(str_at(y, "/a/Price/@currency"), "EUR");
    CHECK(xmltree_align(NULL, y) == 0 && xmltree_align(x, NULL) == 0);
    json_decref(want_x);
    json_decref(x);
    json_decref(y);
}

TEST(cdata_comments_mixed)
{
    CHECK(same_tree("<a><![CDATA[x < y & z]]></a>", "<a>x &lt; y &amp; z</a>"));
    CHECK(tree_is("<a>x<![CDATA[<y>]]>z</a>", "{\"a\":\"x<y>z\"}"));
    CHECK(tree_is("<a>x<!-- c -->y<?pi data?></a>", "{\"a\":\"xy\"}"));
    CHECK(tree_is("<p>Hello <b>World</b> again <i/> </p>",
                  "{\"p\":{\"b\":\"World\",\"i\":\"\","
                  "\"#text\":\"Hello again\"}}"));
    CHECK(tree_is("<!-- top --><?pi x?><a>1</a><!-- end -->", "{\"a\":\"1\"}"));
    CHECK(tree_is("<a>&#233;&#x20AC;&lt;</a>", "{\"a\":\"\xc3\xa9\xe2\x82\xac<\"}"));
}

TEST(soap_envelope)
{
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"\n"
        "    xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
        "  <soapenv:Header>\n"
        "    <wsse:Security xmlns:wsse=\"urn:wsse\"><wsse:UsernameToken>"
        "<wsse:Username>magento</wsse:Username></wsse:UsernameToken>"
        "</wsse:Security>\n"
        "  </soapenv:Header>\n"
        "  <soapenv:Body>\n"
        "    <ns1:getOrderResponse xmlns:ns1=\"urn:erp:orders\">\n"
        "      <ns1:order id=\"000000123\">\n"
        "        <ns1:status>processing</ns1:status>\n"
        "        <ns1:items><ns1:item sku=\"24-MB01\"><ns1:qty>1</ns1:qty></ns1:item>"
        "<ns1:item sku=\"24-MB02\"><ns1:qty>2</ns1:qty></ns1:item></ns1:items>\n"
        "        <ns1:discount xsi:nil=\"true\"/>\n"
        "      </ns1:order>\n"
        "    </ns1:getOrderResponse>\n"
        "  </soapenv:Body>\n"
        "</soapenv:Envelope>\n";
    json_t *t = tree(doc);
    CHECK(t != NULL);
    CHECK_STR(str_at(t, "/Envelope/@xmlns"),
              "http://schemas.xmlsoap.org/soap/envelope/");
    CHECK_STR(str_at(t, "/Envelope/Header/Security/@xmlns"), "urn:wsse");
    CHECK_STR(str_at(t, "/Envelope/Header/Security/UsernameToken/Username"),
              "magento");
    CHECK_STR(str_at(t, "/Envelope/Body/getOrderResponse/@xmlns"),
              "urn:erp:orders");
    CHECK_STR(str_at(t, "/Envelope/Body/getOrderResponse/order/@id"),
              "000000123");
    CHECK_STR(str_at(t, "/Envelope/Body/getOrderResponse/order/status"),
              "processing");
    CHECK_STR(str_at(t, "/Envelope/Body/getOrderResponse/order/items/item/1/@sku"),
              "24-MB02");
    CHECK_STR(str_at(t, "/Envelope/Body/getOrderResponse/order/items/item/1/qty"),
              "2");
    CHECK_STR(str_at(t, "/Envelope/Body/getOrderResponse/order/discount/@nil"),
              "true");
    json_decref(t);
}

static const char LAUGHS[] =
    "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
    "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
    "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
    "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
    "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
    "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
    "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
    "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
    "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
    "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">"
    "]>";

TEST(billion_laughs_do_not_expand)
{
    static const char *const bodies[] = {
        "<lolz>&lol9;</lolz>", "<lolz a=\"&lol9;\"/>",
        "<lolz><x>&lol9;</x><x>&lol9;</x></lolz>",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        char doc[4096];
        snprintf(doc, sizeof doc, "%s%s", LAUGHS, bodies[i]);
        double t0 = now_ms();
        xmltree_error err;
        int rc;
        json_t *t = tree_rc(doc, &rc, &err);
        double ms = now_ms() - t0;
        if (t) { /* refused or kept as a reference: never 10^9 "lol"s */
            char *s = json_dumps(t, JSON_COMPACT);
            CHECK(s && strlen(s) < 200 && strstr(s, "lollol") == NULL);
            free(s);
        } else {
            CHECK(rc == -EINVAL);
            CHECK(strstr(err.message, "entity") != NULL);
        }
        CHECK(ms < 1000);
        json_decref(t);
    }
    /* a small, legal internal entity: kept as written, not expanded */
    CHECK(tree_is("<!DOCTYPE x [<!ENTITY e \"hi\">]><x a=\"&e;!\">a &e; b</x>",
                  "{\"x\":{\"@a\":\"&e;!\",\"#text\":\"a &e; b\"}}"));
}

/* A listening TCP socket on 127.0.0.1; *port set. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(fd, 8) != 0 || getsockname(fd, (struct sockaddr *)&a, &len)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

TEST(external_entities_are_not_fetched)
{
    /* a file the parser could read, and a server it could call */
    char path[] = "/tmp/sp-xxe-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    static const char secret[] = "XXE-FILE-MARKER <!ENTITY leak \"XXE-PE-MARKER\">";
    CHECK(write(fd, secret, sizeof secret - 1) == (ssize_t)(sizeof secret - 1));
    close(fd);
    int port = 0, lfd = listener(&port);
    CHECK(lfd >= 0);
    char docs[5][512];
    snprintf(docs[0], sizeof docs[0],
             "<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file://%s\">]><x>&xxe;</x>", path);
    snprintf(docs[1], sizeof docs[1],
             "<!DOCTYPE x [<!ENTITY %% pe SYSTEM \"file://%s\"> %%pe;]>"
             "<x>&leak;</x>", path);
    snprintf(docs[2], sizeof docs[2],
             "<!DOCTYPE x [<!ENTITY net SYSTEM \"http://127.0.0.1:%d/e\">]>"
             "<x>&net;</x>", port);
    snprintf(docs[3], sizeof docs[3],
             "<!DOCTYPE x SYSTEM \"http://127.0.0.1:%d/x.dtd\"><x a=\"1\">y</x>",
             port);
    snprintf(docs[4], sizeof docs[4],
             "<x xmlns:xi=\"http://www.w3.org/2001/XInclude\">"
             "<xi:include href=\"file://%s\" parse=\"text\"/></x>", path);
    for (int i = 0; i < 5; i++) {
        xmltree_error err;
        int rc;
        double t0 = now_ms();
        json_t *t = tree_rc(docs[i], &rc, &err);
        CHECK(now_ms() - t0 < 1000);
        char *s = t ? json_dumps(t, JSON_COMPACT) : NULL;
        if (s && strstr(s, "MARKER"))
            fprintf(stderr, "  doc %d leaked: %s\n", i, s);
        CHECK(!s || strstr(s, "MARKER") == NULL);
        CHECK(strstr(err.message, "MARKER") == NULL);
        if (i == 0)
            CHECK(rc == 0 && s && strcmp(s, "{\"x\":\"&xxe;\"}") == 0);
        free(s);
        json_decref(t);
    }
    /* nobody knocked on the listener */
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    CHECK(lfd >= 0 && poll(&p, 1, 50) == 0);
    if (lfd >= 0)
        close(lfd);
    unlink(path);
}

TEST(invalid_xml_is_refused)
{
    static const struct {
        const char *doc, *msg;
        int line;
    } cases[] = {
        {"<a>\n<b></a>", "Opening and ending tag mismatch: b line 2 and a", 2},
                {"<a>", "Premature end of data", 1},
        {"", "Document is empty", 1},
        {"   ", "Start tag expected", 1},
        {"<a></a><b/>", "Extra content at the end", 1},
        {"<a>&nope;</a>", "Entity 'nope' not defined", 1},
        {"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>caf\xe9 x</a>",
         "Input is not proper UTF-8, indicate encoding ! Bytes: 0xE9", 2},
        {"<html><body><br></body></html>", "mismatch: br", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        xmltree_error err;
        int rc;
        json_t *t = tree_rc(cases[i].doc, &rc, &err);
        CHECK(t == NULL && rc == -EINVAL);
        if (!strstr(err.message, cases[i].msg) || err.line != cases[i].line)
            fprintf(stderr, "  case %zu: \"%s\" line %d\n", i, err.message,
                    err.line);
        CHECK(strstr(err.message, cases[i].msg) != NULL);
        CHECK(strchr(err.message, '\n') == NULL);
        CHECK(err.line == cases[i].line);
    }
    json_t *t = NULL;
    CHECK(xmltree_parse((const unsigned char *)"<a/>", 4, &t, NULL) == 0);
    json_decref(t);
    CHECK(xmltree_parse((const unsigned char *)"<a", 2, &t, NULL) == -EINVAL);
    CHECK(t == NULL);
}

TEST(encodings)
{
    CHECK(tree_is("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf\xe9</a>",
                  "{\"a\":\"caf\xc3\xa9\"}"));
    CHECK(tree_is("\xef\xbb\xbf<a>bom</a>", "{\"a\":\"bom\"}"));
    static const char u16[] = "\xff\xfe<\0a\0>\0x\0<\0/\0a\0>\0";
    json_t *t = NULL;
    CHECK(xmltree_parse((const unsigned char *)u16, sizeof u16 - 1, &t, NULL) == 0);
    CHECK_STR(str_at(t, "/a"), "x");
    json_decref(t);
}

static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 7 + 16), *p = s;
    for (int i = 0; i < depth; i++)
        p += sprintf(p, "<a>");
    p += sprintf(p, "x");
    for (int i = 0; i < depth; i++)
        p += sprintf(p, "</a>");
    return s;
}

TEST(deep_nesting_is_safe)
{
    char *s = nested(1000);
    xmltree_error err;
    int rc;
    double t0 = now_ms();
    json_t *t = tree_rc(s, &rc, &err);
    CHECK(t == NULL && rc == -EINVAL);
    CHECK(strstr(err.message, "Excessive depth") != NULL);
    CHECK(now_ms() - t0 < 1000);
    free(s);
    s = nested(100000);
    t = tree_rc(s, &rc, &err);
    CHECK(t == NULL && rc == -EINVAL);
    free(s);
    /* within libxml2's cap (256) it parses, and the tree is that deep */
    s = nested(250);
    t = tree(s);
    json_t *v = t;
    int depth = 0;
    while (json_is_object(v)) {
        v = json_object_get(v, "a");
        depth++;
    }
    CHECK(depth == 250 && json_is_string(v));
    CHECK_STR(json_string_value(v), "x");
    json_decref(t);
    free(s);
}

/* ---- redaction ---------------------------------------------------------- */

typedef struct seen {
    char paths[64][128];
    int n;
} seen;

static bool secret_names(void *ctx, const char *name, const char *const *segs,
                         size_t nsegs)
{
    seen *s = ctx;
    if (s && s->n < 64) {
        char *p = s->paths[s->n++];
        p[0] = '\0';
        for (size_t i = 0; i < nsegs; i++) {
            strncat(p, "/", 127 - strlen(p));
            strncat(p, segs[i], 127 - strlen(p));
        }
    }
    return strcmp(name, "Password") == 0 || strcmp(name, "@pin") == 0 ||
           (nsegs == 4 && strcmp(segs[2], "1") == 0 &&
            strcmp(segs[3], "Card") == 0);
}

static bool saw(const seen *s, const char *path)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->paths[i], path) == 0)
            return true;
    return false;
}

TEST(redaction)
{
    const char *doc =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY pw \"ENTITY-SECRET\">]>"
        "<w:r xmlns:w=\"urn:w\" pin=\"PIN-SECRET\" keep=\"ok\">"
        "<w:Password type=\"x\">S1-SECRET<w:inner>S2-SECRET</w:inner></w:Password>"
        "<Password>&pw;</Password>"
        "<Pay><Card>4111-keep</Card></Pay><Pay><Card>CARD-SECRET</Card></Pay>"
        "<note>caf\xc3\xa9 &amp; more</note><!-- kept --></w:r>";
    seen s = {.n = 0};
    char *out = NULL;
    size_t n = 0;
    xmltree_redactor how = {.is_secret = secret_names, .ctx = &s,
                            .replacement = "[redacted]"};
    CHECK(xmltree_redact((const unsigned char *)doc, strlen(doc), &how, &out,
                         &n) == 0);
    CHECK(out && n == strlen(out));
    CHECK(out && strstr(out, "SECRET") == NULL);
    CHECK(out && strstr(out, "<w:Password>[redacted]</w:Password>") != NULL);
    CHECK(out && strstr(out, "<Password>[redacted]</Password>") != NULL);
    CHECK(out && strstr(out, "pin=\"[redacted]\"") != NULL);
    CHECK(out && strstr(out, "keep=\"ok\"") != NULL);
    CHECK(out && strstr(out, "4111-keep") != NULL);
    CHECK(out && strstr(out, "caf\xc3\xa9 &amp; more") != NULL);
    CHECK(out && strstr(out, "<!-- kept -->") != NULL);
    CHECK(out && strncmp(out, "<w:r xmlns:w=\"urn:w\"", 20) == 0);
    /* the paths asked about are the tree's paths */
    CHECK(saw(&s, "/r"));
    CHECK(saw(&s, "/r/@pin"));
    CHECK(saw(&s, "/r/Password/0"));
    CHECK(saw(&s, "/r/Pay/1/Card"));
    CHECK(saw(&s, "/r/note"));
    CHECK(!saw(&s, "/r/Password/0/inner")); /* below a secret: not visited */
    /* the redacted text is XML that parses back */
    json_t *t = NULL;
    CHECK(out && xmltree_parse((const unsigned char *)out, n, &t, NULL) == 0);
    CHECK_STR(str_at(t, "/r/Password/0"), "[redacted]");
    CHECK_STR(str_at(t, "/r/Pay/0/Card"), "4111-keep");
    json_decref(t);
    free(out);
    /* not XML: refused, nothing out */
    out = NULL;
    how.ctx = NULL;
    CHECK(xmltree_redact((const unsigned char *)"<a>", 3, &how, &out, &n) ==
          -EINVAL);
    CHECK(out == NULL);
    /* another encoding comes out as UTF-8 */
    const char *latin = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xe9</a>";
    CHECK(xmltree_redact((const unsigned char *)latin, strlen(latin), &how,
                         &out, &n) == 0);
    CHECK_STR(out, "<a>\xc3\xa9</a>");
    free(out);
}

int main(void)
{
    xmltree_global_init();
    xmltree_global_init(); /* twice is fine */
    RUN(basic_mapping);
    RUN(prefixes_do_not_count);
    RUN(namespace_uri_counts);
    RUN(attribute_order_and_names);
    RUN(whitespace_and_indentation);
    RUN(different_text_at_precise_path);
    RUN(repeated_elements);
    RUN(align_text_against_object);
    RUN(cdata_comments_mixed);
    RUN(soap_envelope);
    RUN(billion_laughs_do_not_expand);
    RUN(external_entities_are_not_fetched);
    RUN(invalid_xml_is_refused);
    RUN(encodings);
    RUN(deep_nesting_is_safe);
    RUN(redaction);
    UNIT_DONE();
}
