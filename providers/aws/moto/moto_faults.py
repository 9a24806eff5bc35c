"""moto's EC2 server with injectable faults, for the AWS provider's tests.

moto cannot refuse capacity, so this wraps its WSGI app in a middleware that
answers chosen EC2 calls with the error real EC2 sends (by default
`InsufficientInstanceCapacity`, HTTP 500, EC2's XML error document).

Started by `dstack_provider_aws::moto::Moto` (tests, benchmarks) and `.ci/moto-up`.

Usage:
    python moto_faults.py [--host 127.0.0.1] [--port 0] [--spot-prices CATALOG_JSON]
                          [--latency-ms N]

`--latency-ms N` delays every EC2 call by N ms (benchmarks: moto answers in
a few ms, EC2 in tens to hundreds).

moto answers DescribeSpotPriceHistory with a flat $0.00001 for every type.
With `--spot-prices providers/catalog/catalog.json` the launcher serves the
catalog's typical spot prices instead (per region and type, same price in
every zone; types the catalog does not price get no spot history), so plans
against moto look like plans against AWS.

Prints `listening on http://HOST:PORT` once it accepts connections (port 0
picks a free port). Faults are set over HTTP:

    POST   /_faults  {"rules": [{"action": "RunInstances",
                                 "instance_type": "g5.xlarge",
                                 "market": "spot",          # or "on-demand"; omit for both
                                 "code": "InsufficientInstanceCapacity",
                                 "status": 500,
                                 "times": 1}]}             # omit for always
    GET    /_faults  the rules and how often each fired
    DELETE /_faults  removes every rule

Everything else goes to moto unchanged (including `POST /moto-api/reset`).
"""

import argparse
import io
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

DEFAULT_MESSAGES = {
    "InsufficientInstanceCapacity": "We currently do not have sufficient {type} capacity in the "
    "Availability Zone you requested. Our system will be working on provisioning additional "
    "capacity. You can currently get {type} capacity by not specifying an Availability Zone in "
    "your request or choosing a different Availability Zone.",
    "InstanceLimitExceeded": "You have requested more instances than your current instance limit "
    "allows for the specified instance type.",
    "VcpuLimitExceeded": "You have requested more vCPU capacity than your current vCPU limit "
    "allows for the instance bucket that the specified instance type belongs to.",
    "MaxSpotInstanceCountExceeded": "Max spot instance count exceeded",
    "SpotMaxPriceTooLow": "Your Spot request price is lower than the minimum required Spot "
    "request fulfillment price.",
    "Unsupported": "Your requested instance type ({type}) is not supported in your requested "
    "Availability Zone.",
}


class Faults:
    """The rules, guarded by a lock (moto's server is threaded)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.fired = []

    def set(self, rules):
        with self.lock:
            self.rules = list(rules)
            self.fired = [0] * len(self.rules)

    def snapshot(self):
        with self.lock:
            return {"rules": self.rules, "fired": self.fired}

    def match(self, params):
        """The rule that fires for this request, if any (and counts it)."""
        action = params.get("Action", [""])[0]
        instance_type = params.get("InstanceType", [""])[0]
        market = params.get("InstanceMarketOptions.MarketType", [""])[0] or "on-demand"
        with self.lock:
            for i, rule in enumerate(self.rules):
                if rule.get("action", "RunInstances") != action:
                    continue
                if rule.get("instance_type") not in (None, instance_type):
                    continue
                if rule.get("market") not in (None, market):
                    continue
                times = rule.get("times")
                if times is not None and self.fired[i] >= times:
                    continue
                self.fired[i] += 1
                return dict(rule, instance_type=instance_type)
        return None


def error_response(rule, start_response):
    code = rule.get("code", "InsufficientInstanceCapacity")
    message = rule.get("message") or DEFAULT_MESSAGES.get(code, code)
    message = message.replace("{type}", rule.get("instance_type") or "this instance type")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        f"</Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    status = int(rule.get("status", 500))
    reason = "Internal Server Error" if status >= 500 else "Bad Request"
    start_response(
        f"{status} {reason}",
        [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]


def json_response(start_response, value, status="200 OK"):
    body = json.dumps(value).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def read_body(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    # Put the body back for moto.
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def load_spot_prices(path):
    """{(region, instance_type): price} from a dstack catalog file."""
    with open(path) as f:
        catalog = json.load(f)
    prices = {}
    for item in catalog.get("items", []):
        if item.get("backend") != "aws" or item.get("spot") is None:
            continue
        for region in item.get("regions", []):
            prices[(region, item["instance_type"])] = item["spot"]
    return prices


ITEM = re.compile(rb"<item>.*?</item>", re.S)
TYPE = re.compile(rb"<instanceType>([^<]*)</instanceType>")
PRICE = re.compile(rb"<spotPrice>[^<]*</spotPrice>")
REGION = re.compile(r"Credential=[^/]*/[0-9]*/([a-z0-9-]+)/")


def with_spot_prices(body, region, prices):
    """moto's spot price history with the configured prices put in."""

    def one(match):
        item = match.group(0)
        found = TYPE.search(item)
        price = found and prices.get((region, found.group(1).decode()))
        if price is None:
            # Types the catalog does not price have no spot history here.
            return b""
        return PRICE.sub(f"<spotPrice>{price}</spotPrice>".encode(), item)

    return ITEM.sub(one, body)


class FaultMiddleware:
    def __init__(self, app, faults, spot_prices=None, latency_ms=0):
        self.app = app
        self.faults = faults
        self.spot_prices = spot_prices or {}
        self.latency = latency_ms / 1000.0

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/_faults":
            return self.control(method, environ, start_response)
        if method == "POST":
            if self.latency and not path.startswith("/moto-api"):
                time.sleep(self.latency)
            body = read_body(environ)
            params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            rule = self.faults.match(params)
            if rule is not None:
                return error_response(rule, start_response)
            action = params.get("Action", [""])[0]
            if action == "DescribeSpotPriceHistory" and self.spot_prices:
                return self.spot_price_history(environ, start_response)
        return self.app(environ, start_response)

    def spot_price_history(self, environ, start_response):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body = b"".join(self.app(environ, capture))
        found = REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
        region = found.group(1) if found else "us-east-1"
        body = with_spot_prices(body, region, self.spot_prices)
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]

    def control(self, method, environ, start_response):
        if method == "POST":
            try:
                rules = json.loads(read_body(environ) or b"{}").get("rules", [])
            except ValueError as e:
                return json_response(start_response, {"error": str(e)}, "400 Bad Request")
            self.faults.set(rules)
        elif method == "DELETE":
            self.faults.set([])
        return json_response(start_response, self.faults.snapshot())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spot-prices", metavar="CATALOG_JSON")
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    moto = DomainDispatcherApplication(create_backend_app)
    prices = load_spot_prices(args.spot_prices) if args.spot_prices else None
    app = FaultMiddleware(moto, Faults(), prices, args.latency_ms)
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"listening on http://{args.host}:{server.server_port}", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
