"""Streaming inference from message brokers: `naiad stream` and `naiad serve --stream`.

One connector core (connector.py) decodes each consumed message into an InferRequest, hands it
to the Engine (so a burst of messages shares the dynamic batcher's batches), produces one
answer per message in per-partition order, and acknowledges the input only after the broker
acknowledged the answer (at-least-once). Thin adapters speak each broker: Kafka
(confluent-kafka), Redis Streams (redis-py) and NATS JetStream (nats-py); each client is an
optional extra, imported only when a stream names its broker.
"""
