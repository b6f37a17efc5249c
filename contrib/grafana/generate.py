#!/usr/bin/env python3
"""Writes the two Grafana dashboards next to this file:

  netsight-prometheus.json  (data source: Prometheus, PromQL)
  netsight-influxdb.json    (data source: InfluxDB 1.x, InfluxQL)

Both ask for their data source at import (`__inputs`), so they import as-is.
Metric, measurement and field names are the SPEC section 6 contract; the
test `agent_cli::grafana_dashboards_use_only_exported_names` holds the
Prometheus one to the names the agent really exports.

Run: python3 contrib/grafana/generate.py
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def inputs(kind, name, label):
    return [{
        "name": name,
        "label": label,
        "description": "",
        "type": "datasource",
        "pluginId": kind,
        "pluginName": label,
    }]


def panel(pid, title, unit, targets, x, y, w=12, h=8, ds=None, desc=""):
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "description": desc,
        "datasource": ds,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right",
                               "calcs": ["mean", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": targets,
    }


def dashboard(uid, title, ds_input, templating, panels):
    return {
        "__inputs": ds_input,
        "__requires": [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "9.0.0"}],
        "uid": uid,
        "title": title,
        "tags": ["netsight", "network", "ebpf"],
        "timezone": "browser",
        "schemaVersion": 36,
        "version": 1,
        "editable": True,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": templating},
        "annotations": {"list": []},
        "panels": panels,
    }


# ---------------------------------------------------------------- Prometheus

PDS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SEL = 'instance=~"$instance",comm=~"$comm"'


def prom(expr, legend):
    return {"datasource": PDS, "expr": expr, "legendFormat": legend, "refId": "A"}


def prom_var(name, query, multi=True):
    return {
        "name": name, "label": name, "type": "query", "datasource": PDS,
        "query": {"query": query, "refId": name}, "definition": query,
        "refresh": 2, "includeAll": True, "multi": multi, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def rate_by_proc(metric):
    return (f"sum by (comm, pid) (rate({metric}{{{SEL}}}[$__rate_interval]))")


prom_panels = [
    panel(1, "TCP sent per process", "Bps",
          [prom(rate_by_proc("netsight_process_tcp_tx_bytes_total"), "{{comm}} {{pid}}")], 0, 0, ds=PDS,
          desc="Bytes the applications wrote to TCP sockets (comm=\"other\": processes beyond the agent's top N)."),
    panel(2, "TCP received per process", "Bps",
          [prom(rate_by_proc("netsight_process_tcp_rx_bytes_total"), "{{comm}} {{pid}}")], 12, 0, ds=PDS),
    panel(3, "TCP retransmitted segments per process", "pps",
          [prom(rate_by_proc("netsight_process_tcp_retrans_segs_total"), "{{comm}} {{pid}}")], 0, 8, ds=PDS),
    panel(4, "TCP resets per process", "pps",
          [prom(rate_by_proc("netsight_process_tcp_resets_sent_total"), "sent {{comm}} {{pid}}"),
           dict(prom(rate_by_proc("netsight_process_tcp_resets_received_total"), "received {{comm}} {{pid}}"), refId="B")],
          12, 8, ds=PDS),
    panel(5, "TCP RTT p99 per process", "s",
          [prom(f"max by (comm, pid) (netsight_process_tcp_rtt_p99_seconds{{{SEL}}})", "{{comm}} {{pid}}")], 0, 16, ds=PDS),
    panel(6, "Open TCP connections per process", "short",
          [prom(f"sum by (comm, pid) (netsight_process_tcp_conns{{{SEL}}})", "{{comm}} {{pid}}")], 12, 16, ds=PDS),
    panel(7, "UDP sent / received per process", "Bps",
          [prom(rate_by_proc("netsight_process_udp_tx_bytes_total"), "tx {{comm}} {{pid}}"),
           dict(prom(rate_by_proc("netsight_process_udp_rx_bytes_total"), "rx {{comm}} {{pid}}"), refId="B")],
          0, 24, ds=PDS),
    panel(8, "Host TCP packets", "pps",
          [prom('netsight_system_ipv4_tcppackets{instance=~"$instance"}', "{{instance}} {{dimension}}")], 12, 24, ds=PDS),
    panel(9, "Host TCP errors", "pps",
          [prom('netsight_system_ipv4_tcperrors{instance=~"$instance"}', "{{instance}} {{dimension}}")], 0, 32, ds=PDS),
    panel(10, "Host listen queue overflows", "pps",
          [prom('netsight_system_ip_tcp_accept_queue{instance=~"$instance"}', "{{instance}} {{dimension}}")], 12, 32, ds=PDS),
    panel(11, "Agent: lost kernel events", "short",
          [prom('increase(netsight_agent_lost_events_total{instance=~"$instance"}[$__rate_interval])', "{{instance}}")],
          0, 40, w=8, ds=PDS, desc="Non-zero: per-process numbers of that time are incomplete."),
    panel(12, "Agent: InfluxDB points dropped / rejected", "short",
          [prom('increase(netsight_agent_influxdb_points_dropped_total{instance=~"$instance"}[$__rate_interval])', "dropped {{instance}}"),
           dict(prom('increase(netsight_agent_influxdb_points_rejected_total{instance=~"$instance"}[$__rate_interval])', "rejected {{instance}}"), refId="B")],
          8, 40, w=8, ds=PDS),
    panel(13, "Agent: time since last InfluxDB write", "s",
          [prom('time() - netsight_agent_influxdb_last_success_timestamp_seconds{instance=~"$instance"}', "{{instance}}")],
          16, 40, w=8, ds=PDS),
]

prom_dash = dashboard(
    "netsight-prometheus", "netsight (Prometheus)",
    inputs("prometheus", "DS_PROMETHEUS", "Prometheus"),
    [prom_var("instance", "label_values(netsight_agent_intervals_total, instance)"),
     prom_var("comm", 'label_values(netsight_process_tcp_tx_bytes_total{instance=~"$instance"}, comm)')],
    prom_panels,
)

# ------------------------------------------------------------------ InfluxDB

IDS = {"type": "influxdb", "uid": "${DS_INFLUXDB}"}
WHERE = '"host" =~ /^$host$/ AND "comm" =~ /^$comm$/ AND $timeFilter'


def influx(query, alias="$tag_comm $tag_pid", ref="A"):
    return {"datasource": IDS, "query": query, "rawQuery": True, "resultFormat": "time_series",
            "alias": alias, "refId": ref}


def per_second(field):
    # Fields are per-interval deltas: their sum over a bucket, divided by the
    # bucket's length, is a rate.
    return (f'SELECT sum("{field}") / ($__interval_ms / 1000) FROM "netsight_process" '
            f'WHERE {WHERE} GROUP BY time($__interval), "comm", "pid" fill(none)')


def influx_var(name, query):
    return {
        "name": name, "label": name, "type": "query", "datasource": IDS,
        "query": query, "definition": query, "refresh": 2, "includeAll": True,
        "multi": True, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "sort": 1,
    }


influx_panels = [
    panel(1, "TCP sent per process", "Bps", [influx(per_second("tcp_tx_bytes"))], 0, 0, ds=IDS),
    panel(2, "TCP received per process", "Bps", [influx(per_second("tcp_rx_bytes"))], 12, 0, ds=IDS),
    panel(3, "TCP retransmitted segments per process", "pps", [influx(per_second("tcp_retrans_segs"))], 0, 8, ds=IDS),
    panel(4, "TCP resets sent per process", "pps", [influx(per_second("tcp_resets_sent"))], 12, 8, ds=IDS),
    panel(5, "TCP RTT p99 per process", "µs",
          [influx(f'SELECT max("tcp_rtt_us_p99") FROM "netsight_process" WHERE {WHERE} '
                  'GROUP BY time($__interval), "comm", "pid" fill(none)')], 0, 16, ds=IDS),
    panel(6, "Open TCP connections per process", "short",
          [influx(f'SELECT last("tcp_conns") FROM "netsight_process" WHERE {WHERE} '
                  'GROUP BY time($__interval), "comm", "pid" fill(none)')], 12, 16, ds=IDS),
    panel(7, "Host TCP packets", "pps",
          [influx('SELECT mean("Received") AS "Received", mean("Sent") AS "Sent" FROM "netsight_system" '
                  'WHERE "host" =~ /^$host$/ AND "chart" = \'ipv4.tcppackets\' AND $timeFilter '
                  'GROUP BY time($__interval), "host" fill(none)', alias="$tag_host $col")], 0, 24, ds=IDS),
    panel(8, "Host TCP errors", "pps",
          [influx('SELECT mean("InErrs") AS "InErrs", mean("RetransSegs") AS "RetransSegs" FROM "netsight_system" '
                  'WHERE "host" =~ /^$host$/ AND "chart" = \'ipv4.tcperrors\' AND $timeFilter '
                  'GROUP BY time($__interval), "host" fill(none)', alias="$tag_host $col")], 12, 24, ds=IDS),
    panel(9, "Agent health", "short",
          [influx('SELECT last("lost_events") AS "lost events", last("points_dropped") AS "points dropped", '
                  'last("points_rejected") AS "points rejected", last("buffer_points") AS "buffered" '
                  'FROM "netsight_agent" WHERE "host" =~ /^$host$/ AND $timeFilter '
                  'GROUP BY time($__interval), "host" fill(none)', alias="$tag_host $col")],
          0, 32, w=24, ds=IDS,
          desc="Cumulative since the agent started: lost kernel events, points dropped (buffer full) or rejected by InfluxDB."),
]

influx_dash = dashboard(
    "netsight-influxdb", "netsight (InfluxDB)",
    inputs("influxdb", "DS_INFLUXDB", "InfluxDB"),
    [influx_var("host", 'SHOW TAG VALUES FROM "netsight_process" WITH KEY = "host"'),
     influx_var("comm", 'SHOW TAG VALUES FROM "netsight_process" WITH KEY = "comm" WHERE "host" =~ /^$host$/')],
    influx_panels,
)

for name, d in [("netsight-prometheus.json", prom_dash), ("netsight-influxdb.json", influx_dash)]:
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(d, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote", name)
