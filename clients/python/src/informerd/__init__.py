"""informerd's Python client: a client-side informer over informerd's shared Kubernetes cache,
direct reads, and a rate-limited work queue (see README.md)."""

from informerd.client import (
    Client,
    InformerdError,
    KubeObject,
    NotFound,
    ObjectList,
    TokenFile,
    object_key,
    secure_channel,
)
from informerd.informer import (
    DeletedFinalStateUnknown,
    Informer,
    Registration,
    ResourceEventHandler,
    Stats,
    Store,
    deletion_handling_key,
)
from informerd.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    RateLimitingQueue,
    ShutDown,
    default_controller_rate_limiter,
)

__all__ = [
    "BucketRateLimiter",
    "Client",
    "DeletedFinalStateUnknown",
    "Informer",
    "InformerdError",
    "ItemExponentialFailureRateLimiter",
    "KubeObject",
    "MaxOfRateLimiter",
    "NotFound",
    "ObjectList",
    "RateLimiter",
    "RateLimitingQueue",
    "Registration",
    "ResourceEventHandler",
    "ShutDown",
    "Stats",
    "Store",
    "default_controller_rate_limiter",
    "deletion_handling_key",
    "object_key",
]
