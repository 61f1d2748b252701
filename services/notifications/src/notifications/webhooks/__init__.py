"""Webhooks: partners subscribe to journey events and receive them as signed HTTP POSTs.

- :mod:`.urls`: which callback URLs may be called (https, public addresses only), checked at subscription
  time and again at each delivery;
- :mod:`.signing`: the ``X-TDU-Signature`` HMAC;
- :mod:`.model`: subscriptions, deliveries, the retry schedule and the ordering rule (pure);
- :mod:`.planner`: journey events in, one delivery per matching subscription stored;
- :mod:`.dispatcher`: claims (subscription, journey) queues, posts their deliveries in order, retries,
  flags failing subscriptions and tells the basin's operators;
- :mod:`.api`: the partner API under ``/v1/webhooks``.

The store adapter is :mod:`notifications.adapters.mongo_webhooks`, the HTTP client
:mod:`notifications.adapters.webhook_http`.
"""
