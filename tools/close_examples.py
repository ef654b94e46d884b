"""Fields of Close objects as Close's own sample responses show them.

openapi.json describes many of Close's objects only as "Any type" (users,
events, statuses, pipelines, custom field definitions, templates, ...) and
the activity and task collections only through a common base schema.  Close's
API reference nevertheless shows a sample object for each of them (the
per-resource OpenAPI files with Close's examples, research notes [SPLIT];
research notes section 7 for leads, contacts, opportunities, tasks, users and
custom field definitions).  Close's docs say that fields not in the sample
response "should not be used in integrations" (developer.close.com, Specifying
Fields), so the sample is what a real object carries.

SAMPLE_FIELDS lists, per collection, the top-level fields of that sample:
these are the fields real objects carry.  DOCUMENTED_FIELDS lists fields
Close documents elsewhere for the collection (other task types, fields sent
only on request, fields of a request body) that a given object may lack.
tools/gen_catalog.py merges both with openapi.json's schemas.

Each entry is "name[:type] ...", type one of text (the default), ts
(timestamptz), date, int (bigint), num (numeric), bool, json (jsonb), from
the sample's values: ids and enums text, money and confidence numeric, plain
dates date, nested objects and arrays json.  Only names and types are taken
from the samples; nothing of Close's documents is copied here.
"""

# The fields every activity sample shows (ActivityBase plus the names).
ACTIVITY = ("_type activity_at:ts contact_id created_by created_by_name "
            "date_created:ts date_updated:ts id lead_id organization_id "
            "updated_by updated_by_name user_id user_name users:json ")

# A custom field definition (research notes section 7).
CUSTOM_FIELD = ("id name type accepts_multiple_values:bool choices:json "
                "description organization_id created_by updated_by "
                "date_created:ts date_updated:ts ")

SAMPLE_FIELDS = {
    "lead": "id name display_name description url status_id status_label "
            "organization_id html_url date_created:ts date_updated:ts created_by "
            "updated_by created_by_name updated_by_name contact_ids:json "
            "contacts:json opportunities:json tasks:json addresses:json "
            "integration_links:json",
    "contact": "id lead_id name display_name title emails:json phones:json "
               "urls:json organization_id date_created:ts date_updated:ts "
               "created_by updated_by",
    "opportunity": "id lead_id lead_name contact_id contact_name user_id user_name "
                   "status_id status_label status_type status_display_name "
                   "pipeline_id pipeline_name value:num value_currency value_period "
                   "value_formatted expected_value:num annualized_value:num "
                   "annualized_expected_value:num confidence:num note note_html "
                   "date_won:date date_lost:ts date_created:ts date_updated:ts "
                   "created_by updated_by organization_id integration_links:json "
                   "is_stalled:bool",
    "task": "_type id lead_id lead_name assigned_to assigned_to_name text "
            "date:date is_complete:bool is_dateless:bool view object_type "
            "object_id contact_id contact_name created_by created_by_name "
            "updated_by updated_by_name date_created:ts date_updated:ts "
            "organization_id",
    "user": "id email first_name last_name image date_created:ts "
            "date_updated:ts organizations:json",
    "event": "id action changed_fields:json data:json date_created:ts "
             "date_updated:ts lead_id meta:json object_id object_type "
             "organization_id previous_data:json request_id user_id",
    "status/lead": "id label organization_id",
    "status/opportunity": "id label organization_id pipeline_id type",
    "pipeline": "id name organization_id statuses:json created_by updated_by "
                "date_created:ts date_updated:ts",
    "email_template": "id name subject body attachments:json is_archived:bool "
                      "is_shared:bool organization_id created_by updated_by "
                      "date_created:ts date_updated:ts",
    "sequence": "id name status timezone schedule:json steps:json created_by_id "
                "updated_by_id organization_id date_created:ts date_updated:ts",
    "sequence_subscription": "id calls_assigned_to:json contact_email contact_id "
                             "created_by_id updated_by_id date_created:ts "
                             "date_updated:ts lead_id organization_id "
                             "sender_account_id sender_email sender_name "
                             "sequence_id start_date:date status status_reason",
    "custom_field/lead": CUSTOM_FIELD + "editable_with_roles:json",
    "custom_field/contact": CUSTOM_FIELD + "editable_with_roles:json",
    "custom_field/opportunity": CUSTOM_FIELD + "editable_with_roles:json",
    "custom_field/activity": CUSTOM_FIELD + "editable_with_roles:json "
                             "custom_activity_type_id required:bool",
    "custom_field/custom_object_type": CUSTOM_FIELD + "editable_with_roles:json "
                                       "back_reference_is_visible:bool "
                                       "custom_object_type_id "
                                       "referenced_custom_type_id required:bool",
    "custom_field/shared": CUSTOM_FIELD + "associations:json",
    "custom_activity": "id name description api_create_only:bool "
                       "editable_with_roles:json fields:json is_archived:bool "
                       "organization_id created_by updated_by date_created:ts "
                       "date_updated:ts",
    "custom_object_type": "id name name_plural description api_create_only:bool "
                          "back_reference_fields:json editable_with_roles:json "
                          "fields:json organization_id created_by updated_by "
                          "date_created:ts date_updated:ts",
    "custom_object": "id name custom_object_type_id lead_id organization_id "
                     "created_by updated_by date_created:ts date_updated:ts",
    "connected_account": "_type id email identities:json organization_id "
                         "synced_calendars:json user_id",
    "send_as": "id allowed_user_id allowing_user_id organization_id",
    "role": "id name editable:bool permissions:json visibility_user_lcf_behavior "
            "visibility_user_lcf_ids:json",
    "dialer": "id caller_id date_created:ts date_updated:ts is_user_dependent:bool "
              "music_preference organization_id ring_mode source_type "
              "source_value status type user_id users:json",
    "export": "id created_by updated_by date_created:ts date_updated:ts "
              "date_format download_url fields:json format n_docs:int "
              "n_docs_processed:int organization_id results_limit:int "
              "s_query:json send_done_email:bool sort:json status type",
    "comment": "id body created_at:ts created_by lead_id mentions:json "
               "organization_id removed_at:ts removed_by thread_id updated_at:ts "
               "updated_by",
    "comment_thread": "id created_at:ts lead_id num_comments:int object_id "
                      "object_type organization_id participating:json "
                      "updated_at:ts",
    "scheduling_link": "id description duration_in_minutes:int name "
                       "oauth_client_id organization_id source source_id "
                       "source_type template_tag type url user_id",
    "shared_scheduling_link": "id description duration_in_minutes:int name "
                              "organization_id source source_id source_type "
                              "template_tag type url user_id",
    "organization": "id name created_by updated_by date_created:ts "
                    "date_updated:ts currency currency_symbol "
                    "inactive_memberships:json lead_statuses:json "
                    "memberships:json pipelines:json plan_type",
    "webhook": "id counters:json created_by date_created:ts date_updated:ts "
               "events:json health_status latest_error:json pause_reason "
               "recent_consecutive_fail_buckets_cnt:int signature_key status "
               "updated_by url verify_ssl:bool",
    "unsubscribe/email": "email",
    "activity/call": ACTIVITY + "call_method cost dialer_id dialer_saved_search_id "
                     "direction disposition duration:int local_country_iso "
                     "local_phone local_phone_formatted note note_html outcome_id "
                     "phone recording_url remote_country_iso remote_phone "
                     "remote_phone_formatted source status voicemail_duration:int "
                     "voicemail_url",
    "activity/note": ACTIVITY + "attachments:json note note_html "
                     "note_mentions:json pinned:bool pinned_at:ts source title",
    "activity/meeting": ACTIVITY + "actual_duration:int attached_call_ids:json "
                        "attendees:json calendar_event_link "
                        "calendar_event_uids:json conference_links:json "
                        "connected_account_id conversation_type_id "
                        "conversation_type_reason duration:int ends_at:ts "
                        "integrations:json is_recurring:bool location note "
                        "notetaker_id outcome_autofill_confidence:num "
                        "outcome_autofill_reasoning outcome_id outcome_reason "
                        "playbook_id playbook_reason provider_calendar_event_id "
                        "provider_calendar_ids:json provider_calendar_type source "
                        "starts_at:ts status summary title user_note "
                        "user_note_date_updated:ts user_note_html "
                        "user_note_mentions:json",
    "activity/status_change/lead": ACTIVITY + "new_status_id new_status_label "
                                   "old_status_id old_status_label",
    "activity/status_change/opportunity": ACTIVITY + "new_pipeline_id "
                                          "new_pipeline_name new_status_id "
                                          "new_status_label new_status_type "
                                          "old_pipeline_id old_pipeline_name "
                                          "old_status_id old_status_label "
                                          "old_status_type "
                                          "opportunity_confidence:num "
                                          "opportunity_date_won:date "
                                          "opportunity_id opportunity_value:num "
                                          "opportunity_value_currency "
                                          "opportunity_value_formatted "
                                          "opportunity_value_period",
    # the sample has no contact_id (task completions belong to no contact)
    "activity/task_completed": ACTIVITY.replace("contact_id ", "") +
                               "task_assigned_to task_assigned_to_name task_id "
                               "task_text",
    "activity/lead_merge": ACTIVITY + "destination_display_name "
                           "destination_lead_id error_message merge_status "
                           "source_display_name source_lead_id",
    "activity/created": ACTIVITY + "import_id source",
    "activity/emailthread": ACTIVITY + "emails:json latest_normalized_subject "
                            "n_emails:int participants:json",
    "activity/custom": ACTIVITY + "custom_activity_type_id",
}

DOCUMENTED_FIELDS = {
    # Smart Fields: "not included in the response by default", only when
    # named in _fields (developer.close.com, Leads); openapi.json's Lead
    # schema lists them.
    "lead": "source localtime primary_email:json primary_phone:json "
            "primary_address_summary contacts_summary recent_calls:json "
            "summaries:json",
    # the task types other than "lead" (missed_call, voicemail, ...)
    "task": "local_phone phone phone_formatted phone_number_description "
            "voicemail_duration:int voicemail_url recording_url body_preview "
            "emails:json subject email_id opportunity_note opportunity_value:num "
            "opportunity_value_currency opportunity_value_formatted "
            "opportunity_value_period",
    # set only for requests made with an API key or OAuth (events docs)
    "event": "api_key_id oauth_client_id oauth_scope",
    # on GET by id and create, not in listings
    "email_template": "used_by_sequences:json",
    "sequence": "subscription_counts_by_status:json",
    # while a type change converts the values (PUT description)
    "custom_field/lead": "converting_to_type",
    "custom_field/contact": "converting_to_type",
    "custom_field/opportunity": "converting_to_type",
    # the rest of openapi.json's default _fields list (by account type)
    "connected_account": "available_calendars:json available_features:json "
                         "calendar_receive_status calendly:json date_created:ts "
                         "default_identity:json email_receive_status "
                         "enabled_features:json has_meeting_creation_scopes:bool "
                         "imap:json is_imap_archive_sync_enabled:bool "
                         "latest_receive_error:json latest_send_error:json "
                         "lead_suggestions_updated_at:ts receive_status "
                         "send_status smtp:json sync_all_calendars:bool "
                         "zoom_account_plan",
    # opportunity exports carry their filter parameters
    "export": "params:json",
    # settings the PUT accepts (Organization request schema)
    "organization": "enable_unsubscribe_link:bool require_unsubscribe_link:bool",
    # only with _fields=transcripts (GET by id description)
    "activity/meeting": "transcripts:json",
    "activity/status_change/lead": "_paused_subscriptions:json",
    "activity/task_completed": "comment_summary:json sequence_id sequence_name "
                               "sequence_subscription_id",
}

TYPES = {"text": "text", "ts": "timestamptz", "date": "date", "int": "bigint",
         "num": "numeric", "bool": "boolean", "json": "jsonb"}


def parse(entry):
    """[(name, pgtype)] of one "name[:type] ..." entry."""
    out = []
    for word in entry.split():
        name, _, short = word.partition(":")
        out.append((name, TYPES[short or "text"]))
    return out
