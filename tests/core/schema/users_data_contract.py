"""The user's own data (issue 10): export and account deletion, in the contract table
(support.CONTRACT)."""

from accounts import apis as accounts_apis

USERS_DATA_CONTRACT = {
    ("/api/v1/users/profile", "delete"): (
        accounts_apis.ProfileApi.DeleteInput,
        "200",
        accounts_apis.ProfileApi.DeleteOutput,
        True,
    ),
    ("/api/v1/users/export", "post"): (None, "202", accounts_apis.ExportOutput, True),
    ("/api/v1/users/export/{export_id}", "get"): (None, "200", accounts_apis.ExportOutput, True),
    ("/api/v1/users/exports", "get"): (None, "200", accounts_apis.ExportListOutput, True),
}
