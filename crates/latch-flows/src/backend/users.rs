//! Users as the Backend API sees them: with their metadata and passkeys.

use latch_core::backend::MetadataPatch;
use latch_core::ids::{IdKind, looks_like};
use latch_core::model::{Millis, Passkey, User};
use latch_store::{UserDetails, UserQuery};

use crate::audit::{self, Subject};
use crate::refusal::{FlowResult, Refusal};
use crate::requester::Requester;
use crate::{Latch, webhooks};

/// A user with what the Backend API shows of them: their metadata and passkeys.
pub type BackendUser = UserDetails;

/// Which users a listing or count shows. `user_ids` and `usernames` (each at most
/// [`MAX_NAMED`]) select those users only; `search` matches part of a username or id.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub user_ids: Vec<String>,
    pub usernames: Vec<String>,
    pub search: Option<String>,
}

/// Named users are read one by one: a listing may name this many.
pub const MAX_NAMED: usize = 100;

pub async fn get(latch: &Latch, id: &str) -> FlowResult<BackendUser> {
    details(latch, id).await?.ok_or(Refusal::NotFound("user"))
}

/// One page of users, newest first unless `oldest_first`.
pub async fn list(
    latch: &Latch,
    filter: &UserFilter,
    oldest_first: bool,
    limit: u32,
    offset: u32,
) -> FlowResult<Vec<BackendUser>> {
    match named(latch, filter).await? {
        Some(mut users) => {
            users.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            if !oldest_first {
                users.reverse();
            }
            let mut shown = Vec::new();
            for user in users.into_iter().skip(offset as usize).take(limit as usize) {
                // (Deleted between the two reads: left out, as if listed a moment later.)
                shown.extend(details(latch, &user.id).await?);
            }
            Ok(shown)
        }
        None => {
            // The page with every user's details in one statement.
            let query = UserQuery { search: filter.search.clone(), oldest_first, limit, offset };
            Ok(latch.store().users_page(&query).await?)
        }
    }
}

pub async fn count(latch: &Latch, filter: &UserFilter) -> FlowResult<u64> {
    match named(latch, filter).await? {
        Some(users) => Ok(users.len() as u64),
        None => Ok(latch.store().count_users(filter.search.as_deref()).await?),
    }
}

/// Deletes the user with their passkeys, tickets and metadata; their live sessions end.
pub async fn delete(latch: &Latch, requester: &Requester, id: &str, now: Millis) -> FlowResult<()> {
    // From the admin console: only with a recent verification (docs/protocol.md §17).
    crate::backend::operators::require_recent_verification(latch, requester, now)?;
    let subject = Subject { user_id: Some(id.to_string()), ..Subject::default() };
    let mut line = audit::line(requester, "user.delete", subject, None, now);
    if latch.webhooks().is_on() {
        line.webhooks = vec![webhooks::deleted_event(requester, "user.deleted", "user", id, now)];
    }
    if !looks_like(IdKind::User, id) || !latch.store().delete_user(id, now, &line).await? {
        return Err(Refusal::NotFound("user"));
    }
    Ok(())
}

/// Merges `patch` into the user's metadata (deep; `null` deletes a key).
pub async fn update_metadata(
    latch: &Latch,
    requester: &Requester,
    id: &str,
    patch: &MetadataPatch,
    now: Millis,
) -> FlowResult<BackendUser> {
    for (name, value) in [("public_metadata", &patch.public), ("private_metadata", &patch.private), ("unsafe_metadata", &patch.unsafe_)] {
        if value.as_ref().is_some_and(|v| !v.is_object()) {
            return Err(Refusal::ParamInvalid { param: name.into(), why: format!("{name} must be a JSON object.") });
        }
    }
    if !looks_like(IdKind::User, id) {
        return Err(Refusal::NotFound("user"));
    }
    let subject = Subject { user_id: Some(id.to_string()), ..Subject::default() };
    let line = audit::line(requester, "user.metadata", subject, None, now);
    let events: Box<latch_store::UserUpdatedEvents> = match find(latch, id).await? {
        Some(user) if latch.webhooks().is_on() => {
            let passkeys = latch.store().passkeys_of(id).await?;
            webhooks::user_updated_with(requester, user, passkeys, now)
        }
        _ => Box::new(|_: &latch_store::UserMetadata| Vec::new()),
    };
    let metadata =
        latch.store().update_user_metadata(id, patch, now, &line, &events).await?.ok_or(Refusal::NotFound("user"))?;
    let shown = details(latch, id).await?.ok_or(Refusal::NotFound("user"))?;
    // The merge's own result, whatever a concurrent update wrote since.
    Ok(BackendUser { metadata, ..shown })
}

/// The user's passkeys.
pub async fn passkeys(latch: &Latch, user_id: &str) -> FlowResult<Vec<Passkey>> {
    find(latch, user_id).await?.ok_or(Refusal::NotFound("user"))?;
    Ok(latch.store().passkeys_of(user_id).await?)
}

/// Deletes passkey `id` of the user (an operator's answer to a lost or stolen device).
pub async fn delete_passkey(latch: &Latch, requester: &Requester, user_id: &str, id: &str, now: Millis) -> FlowResult<()> {
    // From the admin console: only with a recent verification (docs/protocol.md §17).
    crate::backend::operators::require_recent_verification(latch, requester, now)?;
    let subject = Subject { user_id: Some(user_id.to_string()), passkey_id: Some(id.to_string()), ..Subject::default() };
    let mut line = audit::line(requester, "passkey.delete", subject, None, now);
    if latch.webhooks().is_on() {
        line.webhooks = vec![webhooks::deleted_event(requester, "passkey.deleted", "passkey", id, now)];
    }
    if !looks_like(IdKind::Passkey, id) {
        return Err(Refusal::NotFound("passkey"));
    }
    let deleter = webhooks::PasskeyDeleter::Operator;
    if !webhooks::delete_passkey_revoking_sessions(latch, requester, user_id, id, deleter, &line, now).await? {
        return Err(Refusal::NotFound("passkey"));
    }
    Ok(())
}

pub(crate) async fn find(latch: &Latch, id: &str) -> FlowResult<Option<User>> {
    if !looks_like(IdKind::User, id) {
        return Ok(None);
    }
    Ok(latch.store().user(id).await?)
}

/// The user with their metadata and passkeys, in one read.
async fn details(latch: &Latch, id: &str) -> FlowResult<Option<BackendUser>> {
    if !looks_like(IdKind::User, id) {
        return Ok(None);
    }
    Ok(latch.store().user_details(id).await?)
}

/// The users a filter names by id or username, if it names any; the search applies to them.
async fn named(latch: &Latch, filter: &UserFilter) -> FlowResult<Option<Vec<User>>> {
    if filter.user_ids.is_empty() && filter.usernames.is_empty() {
        return Ok(None);
    }
    if filter.user_ids.len() + filter.usernames.len() > MAX_NAMED {
        return Err(Refusal::ParamInvalid { param: "user_id".into(), why: format!("At most {MAX_NAMED} users may be named.") });
    }
    let mut users: Vec<User> = Vec::new();
    for id in &filter.user_ids {
        if let Some(user) = find(latch, id).await? {
            users.push(user);
        }
    }
    for name in &filter.usernames {
        if let Some(user) = latch.store().user_by_username(name).await? {
            users.push(user);
        }
    }
    users.sort_by(|a, b| a.id.cmp(&b.id));
    users.dedup_by(|a, b| a.id == b.id);
    if let Some(search) = filter.search.as_deref().map(str::to_lowercase) {
        users.retain(|u| u.username.to_lowercase().contains(&search) || u.id.to_lowercase().contains(&search));
    }
    Ok(Some(users))
}
