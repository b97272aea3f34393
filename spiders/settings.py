"""Scrapy settings for vahti's crawls (per-source ones: `spiders.crawlsettings`).

Every request goes through Tor: http and https use the Tor download handler,
every other scheme is switched off, and Scrapy's HTTP proxy middleware is
removed (a proxy would be a way around Tor). Page bodies never reach a log or
a disk: items are not logged, and there is no HTTP cache and no JOBDIR (a
Mongo-backed seen-set makes reruns resume instead).
"""

BOT_NAME = "vahti"
SPIDER_LOADER_CLASS = "vahti.spiders.loader.SourceSpiderLoader"
NEWSPIDER_MODULE = "vahti.spiders.spiders"
COMMANDS_MODULE = "vahti.spiders.commands"
ROBOTSTXT_OBEY = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # Scrapy 2.19: an HTTP server that runs Python code
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"

DOWNLOAD_HANDLERS = {
    "http": "vahti.spiders.tor_handler.TorDownloadHandler",
    "https": "vahti.spiders.tor_handler.TorDownloadHandler",
    "ftp": None,
    "s3": None,
    "file": None,
    "data": None,
}
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None,
    "vahti.spiders.middlewares.DirectRouteGuard": 50,  # before anything else sees a request
    "vahti.spiders.middlewares.ConditionalGet": 560,
    "vahti.spiders.middlewares.NewIdentityOnBlock": 590,  # answers before RetryMiddleware (550)
}
EXTENSIONS = {
    "scrapy.extensions.telnet.TelnetConsole": None,
    "scrapy.extensions.remote_control.RemoteControl": None,  # no control port of any kind
    "vahti.spiders.services.CrawlServices": 0,
    "vahti.spiders.middlewares.PageSizeLimit": 10,
}
ITEM_PIPELINES = {"vahti.spiders.pipeline.ScanPipeline": 300}
LOG_FORMATTER = "vahti.spiders.logformat.QuietLogFormatter"
LOG_LEVEL = "INFO"

# Cut at the source's max page size by PageSizeLimit, not dropped by Scrapy.
DOWNLOAD_MAXSIZE = 0
DOWNLOAD_WARNSIZE = 0
HTTPCACHE_ENABLED = False
COOKIES_ENABLED = True
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429, 403]
# A failed SOCKS handshake is a connection error: retried like one.
RETRY_ENABLED = True
