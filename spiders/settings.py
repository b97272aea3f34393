"""Scrapy settings for vahti's spiders.

Every request goes through Tor; the Tor download handler and the item pipeline
into matchers and storage are configured here as they are built.
"""

BOT_NAME = "vahti"
SPIDER_MODULES = ["spiders.spiders"]
NEWSPIDER_MODULE = "spiders.spiders"
ROBOTSTXT_OBEY = False
TELNETCONSOLE_ENABLED = False
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
