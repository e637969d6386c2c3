"""informerd's asyncio API on grpc.aio: Client (list/get/by_index), Informer (async handlers or
an async iterator of changes) and RateLimitingQueue, with the threaded API's semantics and
resume rules. The Store, DeletedFinalStateUnknown, Event and the rate limiters are the threaded
package's."""

from informerd.aio.client import Client, secure_channel
from informerd.aio.informer import Informer, Registration, ResourceEventHandler
from informerd.aio.workqueue import RateLimitingQueue
from informerd.client import InformerdError, KubeObject, NotFound, ObjectList, object_key
from informerd.informer import DeletedFinalStateUnknown, Event, Store, deletion_handling_key
from informerd._resume import Stats
from informerd.workqueue import ShutDown, default_controller_rate_limiter

__all__ = [
    "Client",
    "DeletedFinalStateUnknown",
    "Event",
    "Informer",
    "InformerdError",
    "KubeObject",
    "NotFound",
    "ObjectList",
    "RateLimitingQueue",
    "Registration",
    "ResourceEventHandler",
    "ShutDown",
    "Stats",
    "Store",
    "default_controller_rate_limiter",
    "deletion_handling_key",
    "object_key",
    "secure_channel",
]
