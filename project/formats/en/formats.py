"""One way to write a moment on every page: "7 Dec 2026, 05:09 UTC", the time zone named.

Django's own English formats ("Dec. 7, 2026, 5:09 a.m.") differ from the
sentences the service writes (audiences.services.sizes.when) and name no
time zone; the admin's lists, forms and templates read these instead.
"""

DATETIME_FORMAT = "j M Y, H:i T"
SHORT_DATETIME_FORMAT = "j M Y, H:i T"
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i T"
# Counts read with thousands separated ("10,000") where Django formats a number for display.
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
