/* mqtt_out.h -- events to an MQTT broker through libmosquitto, for
 * `arnet watch --mqtt` (docs/video.md).  Built with -Dmqtt=enabled/auto when
 * libmosquitto is found; without it cli_mqtt_available() is 0 and
 * cli_mqtt_missing() says what to install.
 *
 * At least once: every event is published with QoS 1 and counted as
 * waiting until the broker acknowledges it (PUBACK); libmosquitto keeps the
 * unacknowledged ones and sends them again after a reconnection, which a
 * thread of ours retries with bounded back-off while the broker is away.
 * The queue is bounded: at `queue_max` waiting events a new one is dropped
 * and counted (cli_mqtt_stats.dropped), never blocking the cameras. */
#ifndef ARNET_TOOLS_MQTT_OUT_H
#define ARNET_TOOLS_MQTT_OUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_mqtt cli_mqtt;

typedef struct cli_mqtt_stats {
    uint64_t published; /* events handed to the broker connection */
    uint64_t acked;     /* acknowledged by the broker */
    uint64_t pending;   /* waiting for an acknowledgement (in the queue) */
    uint64_t dropped;   /* refused because the queue was full */
    uint64_t connects;  /* successful connections (1 + reconnections) */
    int connected;
} cli_mqtt_stats;

int cli_mqtt_available(void);
const char *cli_mqtt_missing(void);
/* url: mqtt://HOST[:PORT][/PREFIX] (port 1883, prefix "arnet").  Starts
 * the connection thread; a broker that is down now is not an error (its
 * events wait in the queue).  Returns 0, or -1 with a reason in err. */
int cli_mqtt_open(const char *url, size_t queue_max, cli_mqtt **out, char *err, size_t errlen);
/* Publish payload on PREFIX/CAMERA/EVENT (spaces in EVENT become '_').
 * Never blocks on the network; thread-safe. */
void cli_mqtt_publish(cli_mqtt *m, const char *camera, const char *event, const char *payload);
void cli_mqtt_stats_get(cli_mqtt *m, cli_mqtt_stats *st);
/* Wait up to drain_seconds for the waiting events to be acknowledged,
 * then disconnect and free; *st gets the final counts. */
void cli_mqtt_close(cli_mqtt *m, double drain_seconds, cli_mqtt_stats *st);

#endif
