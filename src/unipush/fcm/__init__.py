"""Firebase Cloud Messaging (HTTP v1): the ``FCM`` provider and its targets.

::

    from unipush.fcm import FCM, FcmDevice, FcmTopic, FcmCondition, FcmOptions

    fcm = FCM(service_account="service-account.json")
    client = PushClient(fcm=fcm)
    client.send(Notification(title="Hi", fcm=FcmOptions(channel_id="news")), FcmDevice(token))
"""

from unipush.fcm._config import FCM
from unipush.fcm._decode import FcmErrorCode
from unipush.fcm._options import FcmOptions
from unipush.fcm._target import FcmCondition, FcmDevice, FcmTopic
from unipush.fcm._topics import MAX_TOKENS_PER_REQUEST, TopicErrorCode, TopicManagementResult

__all__ = [
    "FCM",
    "MAX_TOKENS_PER_REQUEST",
    "FcmCondition",
    "FcmDevice",
    "FcmErrorCode",
    "FcmOptions",
    "FcmTopic",
    "TopicErrorCode",
    "TopicManagementResult",
]
