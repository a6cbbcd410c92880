"""What an app receives, whichever service carries the push: the payload rules two providers share.

FCM delivers to iOS through APNs and to browsers through Web Push, so the FCM encoder writes the same
payload as the direct encoders do, in ``message.apns`` and ``message.webpush``. The rules for that
payload live here, neutral, and all three encoders import them: ``apple`` (the ``aps`` dictionary, the
``unipush`` key, the push type and the headers every APNs carrier shares) and ``web`` (the Notifications
API options and the RFC 8030 headers). What only one service has (``apns-topic`` and ``apns-id``, the
encrypted Web Push body, FCM's Android block) stays in that provider's folder.
"""
