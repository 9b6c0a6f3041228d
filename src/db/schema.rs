// @generated shape: kept in step with migrations/ (diesel print-schema).

diesel::table! {
    groups (id) {
        id -> Text,
        name -> Text,
        towns -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        display_name -> Text,
        role -> Text,
        group_id -> Nullable<Text>,
        password_hash -> Text,
        active -> Bool,
        token_stamp -> BigInt,
        scope_epoch -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        department_id -> Nullable<Text>,
    }
}

diesel::table! {
    departments (id) {
        id -> Text,
        name -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        user_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        device_id -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        replaced_by -> Nullable<Text>,
    }
}

diesel::table! {
    sites (id) {
        id -> Text,
        group_id -> Text,
        name -> Text,
        kind -> Text,
        address -> Text,
        lat -> Double,
        lon -> Double,
        radius_m -> Double,
        deleted -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        code -> Nullable<Text>,
    }
}

diesel::table! {
    templates (id) {
        id -> Text,
        group_id -> Nullable<Text>,
        current_version -> Integer,
        retired -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    template_versions (template_id, version) {
        template_id -> Text,
        version -> Integer,
        name -> Text,
        items -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    routes (id) {
        id -> Text,
        group_id -> Text,
        name -> Text,
        assignee_id -> Nullable<Text>,
        scheduled_for -> Date,
        due_at -> Nullable<Timestamp>,
        status -> Text,
        deleted -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        schedule_id -> Nullable<Text>,
    }
}

diesel::table! {
    schedules (id) {
        id -> Text,
        group_id -> Text,
        name -> Text,
        assignee_id -> Nullable<Text>,
        stops -> Text,
        freq -> Text,
        weekdays -> Text,
        month_day -> Nullable<Integer>,
        horizon_days -> Integer,
        active -> Bool,
        deleted -> Bool,
        generated_through -> Nullable<Date>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    route_stops (id) {
        id -> Text,
        route_id -> Text,
        seq -> Integer,
        site_id -> Text,
        template_id -> Text,
        notes -> Text,
    }
}

diesel::table! {
    change_log (seq) {
        seq -> BigInt,
        entity -> Text,
        entity_id -> Text,
        group_id -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        action -> Text,
        object_type -> Text,
        object_id -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        user_id -> Text,
        first_seen_at -> Timestamp,
        last_push_at -> Nullable<Timestamp>,
        last_pull_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    inspections (id) {
        id -> Text,
        version -> BigInt,
        group_id -> Text,
        inspector_id -> Text,
        site_id -> Nullable<Text>,
        route_id -> Nullable<Text>,
        stop_id -> Nullable<Text>,
        template_id -> Nullable<Text>,
        template_version -> Nullable<Integer>,
        deleted -> Bool,
        fields -> Text,
        field_meta -> Text,
        status -> Text,
        lat -> Nullable<Double>,
        lon -> Nullable<Double>,
        review_status -> Text,
        submitted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        kind -> Text,
        urgent -> Bool,
        category -> Nullable<Text>,
        failed -> Nullable<Text>,
        created_minute -> BigInt,
    }
}

diesel::table! {
    photos (id) {
        id -> Text,
        inspection_id -> Text,
        sha256 -> Text,
        bytes -> BigInt,
        content_type -> Text,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
        caption -> Text,
        taken_at -> Nullable<Timestamp>,
        location -> Nullable<Text>,
        deleted -> Bool,
        status -> Text,
        exif -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        field_meta -> Text,
        item_key -> Nullable<Text>,
        kind -> Text,
        response_id -> Nullable<Text>,
        duration_ms -> Nullable<BigInt>,
        video -> Nullable<Text>,
        variants_pending -> Nullable<Text>,
        original_dropped_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    conflicts (id) {
        id -> Text,
        inspection_id -> Text,
        field -> Text,
        kept -> Text,
        discarded -> Text,
        kept_device_id -> Text,
        discarded_device_id -> Text,
        kept_changed_at -> Timestamp,
        discarded_changed_at -> Timestamp,
        status -> Text,
        resolved_by -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        kept_version -> BigInt,
        against_deletion -> Bool,
    }
}

diesel::table! {
    push_batches (device_id, batch_id) {
        device_id -> Text,
        batch_id -> Text,
        user_id -> Text,
        response -> Binary,
        created_at -> Timestamp,
        request_hash -> Nullable<Text>,
    }
}

diesel::table! {
    reviews (id) {
        id -> Text,
        inspection_id -> Text,
        decision -> Text,
        comment -> Text,
        reviewer_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    photo_jobs (id) {
        id -> Text,
        photo_id -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        needs -> Nullable<Text>,
    }
}

diesel::table! {
    uploads (id) {
        id -> Text,
        user_id -> Text,
        photo_id -> Text,
        length -> BigInt,
        #[sql_name = "offset"]
        offset_ -> BigInt,
        metadata -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        busy_until -> Nullable<Timestamp>,
        parts -> Text,
    }
}

diesel::table! {
    followups (id) {
        id -> Text,
        inspection_id -> Text,
        site_id -> Nullable<Text>,
        group_id -> Text,
        owner_id -> Text,
        title -> Text,
        department -> Text,
        assignee_id -> Nullable<Text>,
        due_at -> Nullable<Timestamp>,
        status -> Text,
        verify_stop_id -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        item_key -> Nullable<Text>,
        department_id -> Nullable<Text>,
        overdue_notified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    followup_history (id) {
        id -> Text,
        followup_id -> Text,
        status -> Text,
        note -> Text,
        by_id -> Text,
        at -> Timestamp,
        event -> Text,
        department_id -> Nullable<Text>,
        department -> Nullable<Text>,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        id -> Text,
        kind -> Text,
        group_id -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        department_id -> Nullable<Text>,
        inspection_id -> Nullable<Text>,
        followup_id -> Nullable<Text>,
        payload -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    channels (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        url -> Text,
        secret -> Nullable<Text>,
        group_id -> Nullable<Text>,
        department_id -> Nullable<Text>,
        events -> Text,
        active -> Bool,
        disabled_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    deliveries (id) {
        id -> Text,
        channel_id -> Text,
        event_seq -> BigInt,
        status -> Text,
        attempts -> Integer,
        next_at -> Timestamp,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        until -> Timestamp,
    }
}

diesel::table! {
    followup_responses (id) {
        id -> Text,
        followup_id -> Text,
        note -> Text,
        status -> Nullable<Text>,
        by_id -> Text,
        department_id -> Nullable<Text>,
        content_hash -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    web_sessions (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        csrf -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        token_stamp -> BigInt,
        role -> Text,
    }
}

diesel::joinable!(users -> groups (group_id));
diesel::joinable!(followup_history -> followups (followup_id));
diesel::joinable!(followup_responses -> followups (followup_id));
diesel::joinable!(deliveries -> channels (channel_id));
diesel::joinable!(deliveries -> events (event_seq));
diesel::joinable!(web_sessions -> users (user_id));
diesel::joinable!(photo_jobs -> photos (photo_id));
diesel::joinable!(photos -> inspections (inspection_id));
diesel::joinable!(devices -> users (user_id));
diesel::joinable!(conflicts -> inspections (inspection_id));
diesel::joinable!(reviews -> inspections (inspection_id));
diesel::joinable!(sites -> groups (group_id));
diesel::joinable!(routes -> groups (group_id));
diesel::joinable!(route_stops -> routes (route_id));
diesel::joinable!(route_stops -> sites (site_id));
diesel::joinable!(template_versions -> templates (template_id));

diesel::allow_tables_to_appear_in_same_query!(
    events,
    channels,
    deliveries,
    leases,
    followup_responses,
    groups,
    users,
    departments,
    refresh_tokens,
    sites,
    templates,
    template_versions,
    routes,
    route_stops,
    change_log,
    audit_log,
    devices,
    inspections,
    photos,
    conflicts,
    push_batches,
    reviews,
    photo_jobs,
    uploads,
    followups,
    followup_history,
    web_sessions,
    schedules,
);
