"""Open Referral HSDS 3.0: organisations and their public activities, for directories and 211 lines."""
