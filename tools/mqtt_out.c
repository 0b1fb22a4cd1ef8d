/* mqtt_out.c -- events to an MQTT broker (mqtt_out.h says how). */
#include "mqtt_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *cli_mqtt_missing(void)
{
    return "this arnet was built without MQTT: install libmosquitto's development files "
           "(Debian: apt-get install libmosquitto-dev) and rebuild (meson setup --reconfigure "
           "-Dmqtt=enabled)";
}

#ifndef ARNET_HAVE_MQTT

int cli_mqtt_available(void) { return 0; }

int cli_mqtt_open(const char *url, size_t queue_max, cli_mqtt **out, char *err, size_t errlen)
{
    (void)url;
    (void)queue_max;
    *out = NULL;
    snprintf(err, errlen, "%s", cli_mqtt_missing());
    return -1;
}

void cli_mqtt_publish(cli_mqtt *m, const char *camera, const char *event, const char *payload)
{
    (void)m;
    (void)camera;
    (void)event;
    (void)payload;
}

void cli_mqtt_stats_get(cli_mqtt *m, cli_mqtt_stats *st)
{
    (void)m;
    memset(st, 0, sizeof *st);
}

void cli_mqtt_close(cli_mqtt *m, double drain_seconds, cli_mqtt_stats *st)
{
    (void)m;
    (void)drain_seconds;
    memset(st, 0, sizeof *st);
}

#else

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <mosquitto.h>

struct cli_mqtt {
    struct mosquitto *mosq;
    char host[256];
    int port;
    char prefix[256];
    size_t queue_max;
    pthread_t thread;
    pthread_mutex_t mu;
    volatile int stop;
    cli_mqtt_stats st;
};

int cli_mqtt_available(void) { return 1; }

static void on_connect(struct mosquitto *mosq, void *user, int rc)
{
    (void)mosq;
    cli_mqtt *m = user;
    pthread_mutex_lock(&m->mu);
    if (rc == 0) {
        m->st.connected = 1;
        m->st.connects++;
    }
    pthread_mutex_unlock(&m->mu);
}

static void on_disconnect(struct mosquitto *mosq, void *user, int rc)
{
    (void)mosq;
    (void)rc;
    cli_mqtt *m = user;
    pthread_mutex_lock(&m->mu);
    m->st.connected = 0;
    pthread_mutex_unlock(&m->mu);
}

static void on_publish(struct mosquitto *mosq, void *user, int mid)
{
    (void)mosq;
    (void)mid;
    cli_mqtt *m = user;
    pthread_mutex_lock(&m->mu);
    m->st.acked++;
    if (m->st.pending)
        m->st.pending--;
    pthread_mutex_unlock(&m->mu);
}

/* The network thread: connect, run the client, and after a loss reconnect
 * with waits doubling from 0.25 s to 5 s.  libmosquitto resends what was
 * not acknowledged once connected again. */
static void *net_thread(void *arg)
{
    cli_mqtt *m = arg;
    double wait = 0.25;
    int have_session = 0;
    while (!m->stop) {
        int rc;
        if (!have_session) {
            rc = mosquitto_connect(m->mosq, m->host, m->port, 30);
            have_session = rc == MOSQ_ERR_SUCCESS;
        } else {
            rc = mosquitto_loop(m->mosq, 100, 1);
            if (rc != MOSQ_ERR_SUCCESS)
                rc = mosquitto_reconnect(m->mosq);
            else {
                wait = 0.25;
                continue;
            }
        }
        if (rc == MOSQ_ERR_SUCCESS) {
            wait = 0.25;
            continue;
        }
        pthread_mutex_lock(&m->mu);
        m->st.connected = 0;
        pthread_mutex_unlock(&m->mu);
        for (double t = 0; t < wait && !m->stop; t += 0.05)
            usleep(50000);
        wait = wait * 2 > 5 ? 5 : wait * 2;
    }
    return NULL;
}

int cli_mqtt_open(const char *url, size_t queue_max, cli_mqtt **out, char *err, size_t errlen)
{
    *out = NULL;
    if (strncmp(url, "mqtt://", 7) != 0) {
        snprintf(err, errlen, "not mqtt://HOST[:PORT][/PREFIX]");
        return -1;
    }
    cli_mqtt *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->queue_max = queue_max;
    m->port = 1883;
    snprintf(m->prefix, sizeof m->prefix, "arnet");
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (slash && slash[1])
        snprintf(m->prefix, sizeof m->prefix, "%s", slash + 1);
    if (hl == 0 || hl >= sizeof m->host) {
        snprintf(err, errlen, "no host in the URL");
        free(m);
        return -1;
    }
    memcpy(m->host, h, hl);
    m->host[hl] = 0;
    char *colon = strrchr(m->host, ':');
    if (colon && !strchr(colon, ']')) {
        char *end;
        errno = 0;
        long p = strtol(colon + 1, &end, 10);
        if (*end || colon[1] == 0 || errno || p < 1 || p > 65535) {
            snprintf(err, errlen, "port '%s' is not 1..65535", colon + 1);
            free(m);
            return -1;
        }
        m->port = (int)p;
        *colon = 0;
    }
    size_t pl = strlen(m->prefix);
    while (pl && m->prefix[pl - 1] == '/')
        m->prefix[--pl] = 0;
    mosquitto_lib_init();
    pthread_mutex_init(&m->mu, NULL);
    if (!(m->mosq = mosquitto_new(NULL, 1, m))) {
        snprintf(err, errlen, "cannot create an MQTT client: %s", strerror(errno));
        pthread_mutex_destroy(&m->mu);
        free(m);
        mosquitto_lib_cleanup();
        return -1;
    }
    mosquitto_threaded_set(m->mosq, 1);
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_publish_callback_set(m->mosq, on_publish);
    /* Everything waiting may be in flight at once: the queue bound is ours. */
    mosquitto_max_inflight_messages_set(m->mosq, 0);
    if (pthread_create(&m->thread, NULL, net_thread, m) != 0) {
        snprintf(err, errlen, "cannot start the MQTT thread");
        mosquitto_destroy(m->mosq);
        pthread_mutex_destroy(&m->mu);
        free(m);
        mosquitto_lib_cleanup();
        return -1;
    }
    *out = m;
    return 0;
}

void cli_mqtt_publish(cli_mqtt *m, const char *camera, const char *event, const char *payload)
{
    char topic[512];
    int k = snprintf(topic, sizeof topic, "%s/%s/", m->prefix, camera);
    for (const char *e = event; *e && k > 0 && (size_t)k + 1 < sizeof topic; e++)
        topic[k++] = *e == ' ' ? '_' : *e;
    if (k > 0 && (size_t)k < sizeof topic)
        topic[k] = 0;
    pthread_mutex_lock(&m->mu);
    if (m->st.pending >= m->queue_max) {
        m->st.dropped++;
        pthread_mutex_unlock(&m->mu);
        return;
    }
    m->st.pending++;
    m->st.published++;
    pthread_mutex_unlock(&m->mu);
    /* QoS 1: libmosquitto keeps it until PUBACK, also while disconnected. */
    int rc = mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload), payload, 1, 0);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
        pthread_mutex_lock(&m->mu);
        m->st.pending--;
        m->st.published--;
        m->st.dropped++;
        pthread_mutex_unlock(&m->mu);
    }
}

void cli_mqtt_stats_get(cli_mqtt *m, cli_mqtt_stats *st)
{
    pthread_mutex_lock(&m->mu);
    *st = m->st;
    pthread_mutex_unlock(&m->mu);
}

void cli_mqtt_close(cli_mqtt *m, double drain_seconds, cli_mqtt_stats *st)
{
    double end = cli_now() + drain_seconds;
    for (;;) {
        cli_mqtt_stats_get(m, st);
        if (!st->pending || cli_now() >= end)
            break;
        usleep(20000);
    }
    m->stop = 1;
    pthread_join(m->thread, NULL);
    mosquitto_disconnect(m->mosq);
    mosquitto_destroy(m->mosq);
    mosquitto_lib_cleanup();
    cli_mqtt_stats_get(m, st);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

#endif
