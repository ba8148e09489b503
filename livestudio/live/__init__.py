"""The show's domain: what is on air, chat, and the events pages follow.

On air (lifecycle, publishing the replay), the products burned into the video, chat rooms
and the event hub. No aiohttp.web here: `http/` turns requests into calls on these and
their errors into status codes. Imports media/, store/ and catalog/, never http/.
"""
