-- workflow_dominators(workflow_id): the dominator tree of a workflow's steps. Step X dominates step C
-- when every path of branches from any entry point to C passes through X — so X's output exists
-- whenever C runs. Computed with the iterative algorithm of Cooper, Harvey and Kennedy ("A Simple,
-- Fast Dominance Algorithm") over a virtual root that branches to every entry point. Each reachable
-- step gets an interval [dom_pre, dom_post]: X dominates C iff X's interval contains C's.
-- Steps no entry point reaches are not returned.
CREATE OR REPLACE FUNCTION public.workflow_dominators(p_workflow_id integer)
RETURNS TABLE (conversation_id integer, immediate_dominator integer, dom_pre integer, dom_post integer)
LANGUAGE plpgsql
STABLE
ROWS 20
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    ids        integer[];  -- node k (1..n) is step ids[k]; node 0 is the virtual root
    n          integer;
    edge_from  integer[];  -- edges sorted by (from, to), forward adjacency in CSR form
    edge_to    integer[];
    succ_first integer[];  -- succ_first[k] .. succ_first[k+1]-1 index edge_to
    pred_from  integer[];  -- edges sorted by (to, from): predecessor adjacency in CSR form
    pred_first integer[];
    postorder  integer[];  -- postorder number of each node (0 = unreached)
    by_post    integer[];  -- node of each postorder number
    idom       integer[];
    stack      integer[];
    cursor_at  integer[];
    top        integer;
    counter    integer := 0;
    node       integer;
    next_node  integer;
    candidate  integer;
    finger_a   integer;
    finger_b   integer;
    changed    boolean := true;
    pre_number integer[];
    post_number integer[];
    child_first integer[];
    children   integer[];
    edge_index integer;
BEGIN
    -- NODES AND EDGES -----------------------------------------------------------------------
    SELECT array_agg(step.conversation_id ORDER BY step.execution_order, step.conversation_id)
      INTO ids FROM public.workflow_steps(p_workflow_id) AS step;
    n := coalesce(cardinality(ids), 0);
    IF n = 0 THEN
        RETURN;
    END IF;

    WITH node AS (
        SELECT u.id, u.k::integer AS k FROM unnest(ids) WITH ORDINALITY AS u (id, k)
    ), edge AS (
        SELECT DISTINCT source.k AS from_node, target.k AS to_node
          FROM public.workflow_branches(p_workflow_id) AS branch
          JOIN node AS source ON source.id = branch.conversation_id
          JOIN node AS target ON target.id = branch.next_conversation_id
         WHERE branch.target_kind = 'step'
        UNION
        SELECT 0, node.k FROM node
          JOIN public.workflow_steps(p_workflow_id) AS step ON step.conversation_id = node.id
         WHERE step.is_entry_point
    )
    SELECT array_agg(edge.from_node ORDER BY edge.from_node, edge.to_node),
           array_agg(edge.to_node ORDER BY edge.from_node, edge.to_node)
      INTO edge_from, edge_to FROM edge;

    -- CSR offsets; arrays indexed 0..n (+1 for the end sentinel)
    succ_first := array_fill(0, ARRAY[n + 2], ARRAY[0]);
    pred_first := array_fill(0, ARRAY[n + 2], ARRAY[0]);
    FOR edge_index IN 1 .. coalesce(cardinality(edge_from), 0) LOOP
        succ_first[edge_from[edge_index] + 1] := succ_first[edge_from[edge_index] + 1] + 1;
        pred_first[edge_to[edge_index] + 1] := pred_first[edge_to[edge_index] + 1] + 1;
    END LOOP;
    succ_first[0] := 1;
    pred_first[0] := 1;
    FOR node IN 1 .. n + 1 LOOP
        succ_first[node] := succ_first[node] + succ_first[node - 1];
        pred_first[node] := pred_first[node] + pred_first[node - 1];
    END LOOP;
    SELECT array_agg(e.f ORDER BY e.t, e.f) INTO pred_from
      FROM unnest(edge_from, edge_to) AS e (f, t);

    -- DEPTH-FIRST POSTORDER FROM THE ROOT -------------------------------------------------------
    postorder := array_fill(0, ARRAY[n + 1], ARRAY[0]);
    by_post := '{}';
    stack := ARRAY[0];
    cursor_at := ARRAY[succ_first[0]];
    top := 1;
    postorder[0] := -1;  -- on the stack
    WHILE top > 0 LOOP
        node := stack[top];
        IF cursor_at[top] < succ_first[node + 1] THEN
            next_node := edge_to[cursor_at[top]];
            cursor_at[top] := cursor_at[top] + 1;
            IF postorder[next_node] = 0 THEN
                postorder[next_node] := -1;
                top := top + 1;
                stack[top] := next_node;
                cursor_at[top] := succ_first[next_node];
            END IF;
        ELSE
            counter := counter + 1;
            postorder[node] := counter;
            by_post[counter] := node;
            top := top - 1;
        END IF;
    END LOOP;

    -- IMMEDIATE DOMINATORS (Cooper–Harvey–Kennedy) ---------------------------------------------
    idom := array_fill(NULL::integer, ARRAY[n + 1], ARRAY[0]);
    idom[0] := 0;
    WHILE changed LOOP
        changed := false;
        FOR rank IN REVERSE counter - 1 .. 1 LOOP  -- reverse postorder, root excluded
            node := by_post[rank];
            candidate := NULL;
            FOR edge_index IN pred_first[node] .. pred_first[node + 1] - 1 LOOP
                next_node := pred_from[edge_index];
                CONTINUE WHEN idom[next_node] IS NULL;
                IF candidate IS NULL THEN
                    candidate := next_node;
                ELSE
                    finger_a := next_node;
                    finger_b := candidate;
                    WHILE finger_a <> finger_b LOOP
                        WHILE postorder[finger_a] < postorder[finger_b] LOOP
                            finger_a := idom[finger_a];
                        END LOOP;
                        WHILE postorder[finger_b] < postorder[finger_a] LOOP
                            finger_b := idom[finger_b];
                        END LOOP;
                    END LOOP;
                    candidate := finger_a;
                END IF;
            END LOOP;
            IF idom[node] IS DISTINCT FROM candidate THEN
                idom[node] := candidate;
                changed := true;
            END IF;
        END LOOP;
    END LOOP;

    -- INTERVALS OF THE DOMINATOR TREE ---------------------------------------------------------
    child_first := array_fill(0, ARRAY[n + 2], ARRAY[0]);
    FOR node IN 1 .. n LOOP
        IF idom[node] IS NOT NULL THEN
            child_first[idom[node] + 1] := child_first[idom[node] + 1] + 1;
        END IF;
    END LOOP;
    child_first[0] := 1;
    FOR node IN 1 .. n + 1 LOOP
        child_first[node] := child_first[node] + child_first[node - 1];
    END LOOP;
    SELECT array_agg(u.k::integer ORDER BY u.parent, u.k) INTO children
      FROM unnest(idom[1:n]) WITH ORDINALITY AS u (parent, k) WHERE u.parent IS NOT NULL;
    pre_number := array_fill(NULL::integer, ARRAY[n + 1], ARRAY[0]);
    post_number := array_fill(NULL::integer, ARRAY[n + 1], ARRAY[0]);
    counter := 0;
    stack := ARRAY[0];
    cursor_at := ARRAY[child_first[0]];
    top := 1;
    counter := counter + 1;
    pre_number[0] := counter;
    WHILE top > 0 LOOP
        node := stack[top];
        IF cursor_at[top] < child_first[node + 1] THEN
            next_node := children[cursor_at[top]];
            cursor_at[top] := cursor_at[top] + 1;
            counter := counter + 1;
            pre_number[next_node] := counter;
            top := top + 1;
            stack[top] := next_node;
            cursor_at[top] := child_first[next_node];
        ELSE
            counter := counter + 1;
            post_number[node] := counter;
            top := top - 1;
        END IF;
    END LOOP;

    RETURN QUERY
    SELECT ids[k], CASE WHEN idom[k] = 0 THEN NULL ELSE ids[idom[k]] END, pre_number[k], post_number[k]
      FROM generate_series(1, n) AS k
     WHERE idom[k] IS NOT NULL;
END;
$function$;
