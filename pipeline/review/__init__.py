"""The review page: one self-contained HTML file beside the output, where a person reads each
row's video (its price, its moments, its preview) before paying to render the drafts."""

from pipeline.review.page import ReviewRow, ReviewTotals, review_path, write_review_page

__all__ = ["ReviewRow", "ReviewTotals", "review_path", "write_review_page"]
